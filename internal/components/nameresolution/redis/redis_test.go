package redis_test

import (
	"testing"

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
