package components

import (
	"testing"
	"time"
)

func TestMetadataLookups(t *testing.T) {
	md := Metadata{Properties: map[string]string{
		"ConnectionString": "dsn", "empty": "", "timeoutInSeconds": "20", "cleanupInterval": "1h30m", "bad": "soon",
	}}
	tests := []struct {
		name    string
		names   []string
		want    string
		wantOK  bool
		wantDur time.Duration
		wantErr bool
	}{
		{name: "case-insensitive", names: []string{"connectionstring"}, want: "dsn", wantOK: true},
		{name: "alias after a missing name", names: []string{"url", "connectionString"}, want: "dsn", wantOK: true},
		{name: "empty is unset", names: []string{"empty"}},
		{name: "missing", names: []string{"nothing"}},
		{name: "seconds", names: []string{"timeout", "timeoutInSeconds"}, want: "20", wantOK: true, wantDur: 20 * time.Second},
		{name: "go duration", names: []string{"cleanupInterval"}, want: "1h30m", wantOK: true, wantDur: 90 * time.Minute},
		{name: "bad duration", names: []string{"bad"}, want: "soon", wantOK: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := md.Property(tt.names...)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("Property = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
			if tt.wantDur == 0 && !tt.wantErr {
				return
			}
			d, ok, err := md.Duration(tt.names...)
			if (err != nil) != tt.wantErr || !ok || d != tt.wantDur {
				t.Fatalf("Duration = %s, %v, %v; want %s, true, error %v", d, ok, err, tt.wantDur, tt.wantErr)
			}
		})
	}
}
