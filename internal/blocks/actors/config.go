package actors

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Dapr's defaults for what an app's /dapr/config leaves out.
const (
	DefaultIdleTimeout   = 60 * time.Minute
	DefaultScanInterval  = 30 * time.Second
	DefaultDrainTimeout  = 60 * time.Second
	DefaultMaxStackDepth = 32
)

// TypeConfig is how the actors of one type live on a host.
type TypeConfig struct {
	IdleTimeout     time.Duration
	DrainTimeout    time.Duration
	DrainRebalanced bool
	Reentrancy      bool
	MaxStackDepth   int
}

// HostConfig is an app's answer to GET /dapr/config: the actor types it
// hosts and how their actors live.
type HostConfig struct {
	// Types maps every hosted actor type to its settings (entitiesConfig
	// over the app-wide ones).
	Types        map[string]TypeConfig
	ScanInterval time.Duration
}

// AppConfig is the JSON the SDKs answer /dapr/config with; a gRPC app's
// actor callback stream registers the same settings.
type AppConfig struct {
	Entities                []string       `json:"entities"`
	ActorIdleTimeout        string         `json:"actorIdleTimeout"`
	ActorScanInterval       string         `json:"actorScanInterval"`
	DrainOngoingCallTimeout string         `json:"drainOngoingCallTimeout"`
	DrainRebalancedActors   *bool          `json:"drainRebalancedActors"`
	Reentrancy              *Reentrancy    `json:"reentrancy"`
	EntitiesConfig          []EntityConfig `json:"entitiesConfig"`
}

// Reentrancy is an AppConfig's reentrancy.
type Reentrancy struct {
	Enabled       bool `json:"enabled"`
	MaxStackDepth *int `json:"maxStackDepth"`
}

// EntityConfig is an AppConfig's settings for some of its types.
type EntityConfig struct {
	Entities                []string    `json:"entities"`
	ActorIdleTimeout        string      `json:"actorIdleTimeout"`
	DrainOngoingCallTimeout string      `json:"drainOngoingCallTimeout"`
	DrainRebalancedActors   *bool       `json:"drainRebalancedActors"`
	Reentrancy              *Reentrancy `json:"reentrancy"`
}

// ParseHostConfig reads an app's /dapr/config. Durations are Go
// durations ("1h", "30s"), as the SDKs write them; a bad one is an error
// naming the field.
func ParseHostConfig(data []byte) (*HostConfig, error) {
	var c AppConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("the app's /dapr/config is not the JSON Dapr expects: %w", err)
	}
	return c.HostConfig()
}

// HostConfig checks an app's settings and resolves each type's.
func (c *AppConfig) HostConfig() (*HostConfig, error) {
	base := TypeConfig{IdleTimeout: DefaultIdleTimeout, DrainTimeout: DefaultDrainTimeout, DrainRebalanced: true, MaxStackDepth: DefaultMaxStackDepth}
	if err := apply(&base, "", c.ActorIdleTimeout, c.DrainOngoingCallTimeout, c.DrainRebalancedActors, c.Reentrancy); err != nil {
		return nil, err
	}
	hc := &HostConfig{Types: map[string]TypeConfig{}, ScanInterval: DefaultScanInterval}
	if c.ActorScanInterval != "" {
		d, err := duration("actorScanInterval", c.ActorScanInterval)
		if err != nil {
			return nil, err
		}
		hc.ScanInterval = d
	}
	for _, t := range c.Entities {
		if t = strings.TrimSpace(t); t != "" {
			hc.Types[t] = base
		}
	}
	for i, ec := range c.EntitiesConfig {
		tc := base
		where := fmt.Sprintf("entitiesConfig[%d].", i)
		if err := apply(&tc, where, ec.ActorIdleTimeout, ec.DrainOngoingCallTimeout, ec.DrainRebalancedActors, ec.Reentrancy); err != nil {
			return nil, err
		}
		for _, t := range ec.Entities {
			// Only the types the app hosts take per-type settings.
			if _, ok := hc.Types[t]; ok {
				hc.Types[t] = tc
			}
		}
	}
	return hc, nil
}

func apply(tc *TypeConfig, where, idle, drain string, rebalanced *bool, re *Reentrancy) error {
	if idle != "" {
		d, err := duration(where+"actorIdleTimeout", idle)
		if err != nil {
			return err
		}
		tc.IdleTimeout = d
	}
	if drain != "" {
		d, err := duration(where+"drainOngoingCallTimeout", drain)
		if err != nil {
			return err
		}
		tc.DrainTimeout = d
	}
	if rebalanced != nil {
		tc.DrainRebalanced = *rebalanced
	}
	if re != nil {
		tc.Reentrancy = re.Enabled
		if re.MaxStackDepth != nil && *re.MaxStackDepth > 0 {
			tc.MaxStackDepth = *re.MaxStackDepth
		}
	}
	return nil
}

func duration(field, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("the app's /dapr/config: %s %q is not a positive Go duration such as \"1h\" or \"30s\"", field, v)
	}
	return d, nil
}
