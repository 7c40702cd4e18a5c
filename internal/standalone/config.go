package standalone

import (
	"fmt"
	"os"

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

// LoadConfiguration reads a Dapr Configuration file strictly, with file
// and line in its errors, through the environment's parser;
// spec.nameResolution, which only standalone sidecars apply, is taken from
// it here.
func LoadConfiguration(path string) (*Configuration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	parsed, probs := spec.ParseConfiguration(path, data)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	cfg := &Configuration{Spec: parsed}
	for _, w := range probs.Warnings() {
		if w.Path != "spec.nameResolution" {
			cfg.Warnings = append(cfg.Warnings, w)
		}
	}
	if ac := parsed.AccessControl; ac != nil {
		cfg.TrustDomain = ac.TrustDomain
	}
	if nr := parsed.NameResolution; nr != nil {
		cfg.NameResolution = &NameResolution{Component: nr.Component, Version: nr.Version, Configuration: nr.Configuration}
	}
	return cfg, nil
}
