package components

import (
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testlog"
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

// level is a field type with its own text form, as a store gives one to a
// value Dapr reads in its own way.
type level int

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return errors.New("use low or high")
	}
	return nil
}

// Common stands for settings several components share, embedded.
type Common struct {
	Timeout time.Duration `metadata:"timeout,timeoutInSeconds"`
}

type decoded struct {
	Common
	Host      string            `metadata:"redisHost"`
	Retries   int               `metadata:"redisMaxRetries,maxRetries"`
	Port      uint16            `metadata:"port"`
	Small     int8              `metadata:"small"`
	Ratio     float64           `metadata:"ratio"`
	TLS       bool              `metadata:"enableTLS"`
	Interval  time.Duration     `metadata:"cleanupInterval"`
	Hosts     []string          `metadata:"hosts"`
	TTL       *int              `metadata:"ttlInSeconds"`
	Level     level             `metadata:"level"`
	Ignored   string            `metadata:"-"`
	Untagged  string            // not metadata
	Derived   map[string]string // not metadata, and not a type Decode fills
	unchanged string
}

func TestDecode(t *testing.T) {
	defaults := func() decoded {
		return decoded{Common: Common{Timeout: 20 * time.Second}, Retries: 3, Interval: time.Hour}
	}
	tests := []struct {
		name        string
		props       map[string]string
		want        func(*decoded)
		wantUnknown []string
		wantErr     []string // substrings, each must appear
	}{
		{name: "nothing set keeps the defaults", props: nil, want: func(*decoded) {}},
		{
			name:  "keys match case-insensitively",
			props: map[string]string{"REDISHOST": "h:1", "EnableTls": "true", "TTLINSECONDS": "5"},
			want:  func(d *decoded) { d.Host, d.TLS, d.TTL = "h:1", true, ptr(5) },
		},
		{name: "alias", props: map[string]string{"maxRetries": "7"}, want: func(d *decoded) { d.Retries = 7 }},
		{
			name:  "the key wins over its alias",
			props: map[string]string{"maxRetries": "7", "redisMaxRetries": "9"},
			want:  func(d *decoded) { d.Retries = 9 },
		},
		{
			name:  "an empty key gives way to its alias",
			props: map[string]string{"maxRetries": "7", "redisMaxRetries": ""},
			want:  func(d *decoded) { d.Retries = 7 },
		},
		{
			name:  "empty is unset",
			props: map[string]string{"redisMaxRetries": "", "timeout": "", "ttlInSeconds": ""},
			want:  func(*decoded) {},
		},
		{
			name:  "embedded fields and their aliases",
			props: map[string]string{"timeoutInSeconds": "5"},
			want:  func(d *decoded) { d.Timeout = 5 * time.Second },
		},
		{
			name: "every type",
			props: map[string]string{"port": "6380", "small": "-128", "ratio": "0.25", "cleanupInterval": "1h30m",
				"hosts": " a:1, ,b:2,", "ttlInSeconds": "-1", "level": "high", "redisHost": " spaced "},
			want: func(d *decoded) {
				d.Port, d.Small, d.Ratio, d.Interval = 6380, -128, 0.25, 90*time.Minute
				d.Hosts, d.TTL, d.Level, d.Host = []string{"a:1", "b:2"}, ptr(-1), 2, " spaced "
			},
		},
		{name: "a bare number is seconds", props: map[string]string{"cleanupInterval": "90"}, want: func(d *decoded) { d.Interval = 90 * time.Second }},
		{name: "a negative duration", props: map[string]string{"cleanupInterval": "-1"}, want: func(d *decoded) { d.Interval = -time.Second }},
		{name: "a zero duration", props: map[string]string{"cleanupInterval": "0"}, want: func(d *decoded) { d.Interval = 0 }},
		{
			name:        "unknown keys are reported, sorted, and do not fail",
			props:       map[string]string{"zeta": "1", "redisHost": "h", "Alpha": "", "Untagged": "x", "Ignored": "y"},
			want:        func(d *decoded) { d.Host = "h" },
			wantUnknown: []string{"Alpha", "Ignored", "Untagged", "zeta"},
		},
		{
			name:    "keys that differ only in case",
			props:   map[string]string{"redisHost": "a", "REDISHOST": "b"},
			want:    func(d *decoded) { d.Host = "b" },
			wantErr: []string{`metadata keys "REDISHOST" and "redisHost" are the same key`},
		},
		{
			name: "every bad value at once, each named with what is accepted",
			props: map[string]string{"redisMaxRetries": "three", "port": "70000", "small": "1.5", "ratio": "half",
				"enableTLS": "yes please", "cleanupInterval": "soon", "level": "mid", "ttlInSeconds": "1h", "redisHost": "kept"},
			want: func(d *decoded) { d.Host = "kept" },
			wantErr: []string{
				`metadata redisMaxRetries "three": not a whole number`,
				`metadata port "70000": out of range; use 0 to 65535`,
				`metadata small "1.5": not a whole number`,
				`metadata ratio "half": not a number`,
				`metadata enableTLS "yes please": not a boolean; use true or false`,
				`metadata cleanupInterval "soon": neither a duration (20s, 1m30s) nor a whole number of seconds`,
				`metadata level "mid": use low or high`,
				`metadata ttlInSeconds "1h": not a whole number`,
			},
		},
		{
			name:    "an out-of-range duration",
			props:   map[string]string{"cleanupInterval": "9999999999999"},
			want:    func(*decoded) {},
			wantErr: []string{`metadata cleanupInterval "9999999999999": out of range`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := defaults(), defaults()
			got.unchanged, want.unchanged = "kept", "kept"
			tt.want(&want)
			unknown, err := Metadata{Properties: tt.props}.Decode(&got)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Decode error: %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Decode error = %v; want one containing %q", err, w)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode =\n%+v\nwant\n%+v", got, want)
			}
			if !slices.Equal(unknown, tt.wantUnknown) {
				t.Errorf("unknown = %q; want %q", unknown, tt.wantUnknown)
			}
		})
	}
}

// TestDecodeBooleans checks each form Dapr reads as true, and their
// opposites.
func TestDecodeBooleans(t *testing.T) {
	for _, v := range []string{"y", "Yes", "TRUE", "t", "on", "1", " true "} {
		var d struct {
			B bool `metadata:"b"`
		}
		if _, err := (Metadata{Properties: map[string]string{"b": v}}).Decode(&d); err != nil || !d.B {
			t.Errorf("%q: got %v, %v; want true", v, d.B, err)
		}
	}
	for _, v := range []string{"n", "No", "FALSE", "f", "off", "0"} {
		d := struct {
			B bool `metadata:"b"`
		}{B: true}
		if _, err := (Metadata{Properties: map[string]string{"b": v}}).Decode(&d); err != nil || d.B {
			t.Errorf("%q: got %v, %v; want false", v, d.B, err)
		}
	}
}

func TestDecodeProgrammingErrors(t *testing.T) {
	md := Metadata{Properties: map[string]string{"a": "1"}}
	var notStruct int
	var nilPtr *decoded
	tests := []struct {
		name string
		dst  any
		want string
	}{
		{"not a pointer", decoded{}, "pointer to a struct"},
		{"nil pointer", nilPtr, "pointer to a struct"},
		{"pointer to a non-struct", &notStruct, "pointer to a struct"},
		{"unsupported type", &struct {
			M map[string]string `metadata:"a"`
		}{}, "cannot fill"},
		{"unexported", &struct {
			a string `metadata:"a"`
		}{}, "not exported"},
		{"empty tag", &struct {
			A string `metadata:","`
		}{}, "empty tag"},
		{"a key named twice", &struct {
			Common
			T string `metadata:"TIMEOUT"`
		}{}, `metadata key "TIMEOUT" is named by two fields`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := md.Decode(tt.dst); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzDecode checks that no metadata makes Decode panic, and that an error
// names the key whose value it refuses.
func FuzzDecode(f *testing.F) {
	for _, seed := range [][2]string{
		{"redisMaxRetries", "3"}, {"port", "-1"}, {"enableTLS", "on"}, {"cleanupInterval", "1h"},
		{"hosts", ",,"}, {"ttlInSeconds", "9223372036854775808"}, {"level", "\x00"}, {"SMALL", "+1"},
		{"ratio", "NaN"}, {"timeout", "-9223372036854775808"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		var d decoded
		_, err := Metadata{Properties: map[string]string{key: value}}.Decode(&d)
		if err != nil && !strings.Contains(err.Error(), "metadata "+key+" ") {
			t.Fatalf("error %v does not name key %q", err, key)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestWarnUnknown checks the one warning names the component and the keys,
// and that no warning is logged when every key is known.
func TestWarnUnknown(t *testing.T) {
	var buf testlog.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	md := Metadata{Name: "statestore", Type: "state.redis"}
	md.WarnUnknown(nil)
	if buf.String() != "" {
		t.Fatalf("logged %q for no unknown keys", buf.String())
	}
	md.WarnUnknown([]string{"redisHots", "zeta"})
	for _, want := range []string{"level=WARN", "component=statestore", "type=state.redis", "keys=\"[redisHots zeta]\""} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
}
