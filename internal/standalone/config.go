package standalone

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"sigs.k8s.io/yaml"

	"github.com/cove-env/cove/internal/spec"
)

// Configuration is what cove reads of a Dapr Configuration file (--config).
// Other settings of the file are accepted and not applied yet.
type Configuration struct {
	// NameResolution is spec.nameResolution; nil means the default SQLite
	// file.
	NameResolution *NameResolution
	// TrustDomain is spec.accessControl.trustDomain, "" when unset.
	TrustDomain string
	// Spec is the file as the environment's parser reads it (access
	// control, tracing), with its warnings.
	Spec     *spec.DaprConfiguration
	Warnings spec.Problems
}

// NameResolution selects the name resolution component.
type NameResolution struct {
	// Component is Dapr's short name ("sqlite"); the component type is
	// "nameresolution.<Component>".
	Component string
	Version   string
	// Configuration is spec.nameResolution.configuration, values as
	// strings (nested values as JSON).
	Configuration map[string]string
}

type configFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		NameResolution *struct {
			Component     string         `json:"component"`
			Version       string         `json:"version"`
			Configuration map[string]any `json:"configuration"`
		} `json:"nameResolution"`
		AccessControl *struct {
			TrustDomain string `json:"trustDomain"`
		} `json:"accessControl"`
	} `json:"spec"`
}

// LoadConfiguration reads a Dapr Configuration file: strictly, with file
// and line in its errors, through the environment's parser, and
// spec.nameResolution, which only standalone sidecars apply, beside it.
func LoadConfiguration(path string) (*Configuration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	parsed, probs := spec.ParseConfiguration(path, data)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	var f configFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	if f.Kind != "Configuration" {
		return nil, fmt.Errorf("configuration %s: kind is %q, not Configuration", path, f.Kind)
	}
	cfg := &Configuration{Spec: parsed}
	for _, w := range probs.Warnings() {
		if w.Path != "spec.nameResolution" {
			cfg.Warnings = append(cfg.Warnings, w)
		}
	}
	if ac := f.Spec.AccessControl; ac != nil {
		cfg.TrustDomain = ac.TrustDomain
	}
	if nr := f.Spec.NameResolution; nr != nil {
		if nr.Component == "" {
			return nil, fmt.Errorf("configuration %s: spec.nameResolution.component is required (sqlite, redis or postgresql)", path)
		}
		out := &NameResolution{Component: nr.Component, Version: nr.Version, Configuration: map[string]string{}}
		for k, v := range nr.Configuration {
			switch x := v.(type) {
			case string:
				out.Configuration[k] = x
			case bool:
				out.Configuration[k] = strconv.FormatBool(x)
			case float64:
				out.Configuration[k] = strconv.FormatFloat(x, 'f', -1, 64)
			default:
				b, err := json.Marshal(x)
				if err != nil {
					return nil, fmt.Errorf("configuration %s: spec.nameResolution.configuration.%s: %w", path, k, err)
				}
				out.Configuration[k] = string(b)
			}
		}
		cfg.NameResolution = out
	}
	return cfg, nil
}
