package redis_test

import (
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/components/nameresolution/conformance"
	"github.com/cove-env/cove/internal/components/nameresolution/redis"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:6379"

func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	conformance.Run(t, func(t *testing.T, props map[string]string) nameresolution.Registry {
		md := components.Metadata{Name: "nr", Type: redis.Type, Version: "v1",
			Properties: map[string]string{"redisHost": addr}}
		for k, v := range props {
			md.Properties[k] = v
		}
		r := redis.New()
		if err := r.Init(t.Context(), md); err != nil {
			t.Fatalf("Init: %v", err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	})
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
	}{
		{"no host", map[string]string{}},
		{"bad db", map[string]string{"redisHost": addr, "redisDB": "x"}},
		{"bad tls flag", map[string]string{"redisHost": addr, "enableTLS": "maybe"}},
		{"nothing listening", map[string]string{"redisHost": "127.0.0.1:1", "timeout": "1s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := redis.New()
			if err := r.Init(t.Context(), components.Metadata{Name: "nr", Properties: tc.props}); err == nil {
				_ = r.Close()
				t.Fatal("Init succeeded")
			}
		})
	}
}

// TestMetadataDaprForms checks values daprd accepts for its Redis
// components: its boolean forms, and a timeout in seconds.
func TestMetadataDaprForms(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	r := redis.New()
	md := components.Metadata{Name: "nr", Type: redis.Type, Properties: map[string]string{
		"redisHost": addr, "enableTLS": "off", "timeoutInSeconds": "2", "updateInterval": "3"}}
	if err := r.Init(t.Context(), md); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if r.UpdateInterval() != 3*time.Second {
		t.Errorf("UpdateInterval = %s, want 3s", r.UpdateInterval())
	}
}
