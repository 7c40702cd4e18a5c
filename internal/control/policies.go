package control

import (
	"log/slog"
	"strings"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// envPolicies are the invocation rules of an environment: every app's
// sidecar settings (from its env and Dapr Configuration) and the
// resiliency policies each caller applies (from the Resiliency resources
// in its scope). Circuit breakers keep their state per caller and target
// for as long as the environment runs.
type envPolicies struct {
	res  *resources.Resiliency
	apps map[string]*invoke.AppSettings
}

var _ invoke.Policies = (*envPolicies)(nil)

// newPolicies builds the rules from the apps as translated (their env
// resolved) and the environment's resources.
func newPolicies(env *spec.Environment, apps []*appRuntime, log *slog.Logger) *envPolicies {
	p := &envPolicies{res: resources.NewResiliency(env.Resiliency, log), apps: map[string]*invoke.AppSettings{}}
	for _, a := range apps {
		if a.daprAppID == "" {
			continue
		}
		// The first revision's env: a token a later revision changes
		// needs a restart.
		s := &invoke.AppSettings{AppToken: envValue(a.revisions[0].env, "APP_API_TOKEN")}
		if c := a.entry.DaprConfig; c != nil && c.AccessControl != nil {
			s.Access = resources.AccessControl(c.AccessControl)
			s.TrustDomain = c.AccessControl.TrustDomain
		}
		p.apps[a.daprAppID] = s
	}
	return p
}

// envValue is the last value of name in a KEY=VALUE list.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// App returns appID's sidecar settings.
func (p *envPolicies) App(appID string) *invoke.AppSettings { return p.apps[appID] }

// Resiliency returns the policy caller applies to target, built once per
// pair so its breaker lives on.
func (p *envPolicies) Resiliency(caller, target string) *resiliency.Policy {
	return p.res.Policy(caller, target)
}

// daprLogLevel is the level of ACA's dapr.logLevel, which validation keeps
// to debug, info, warn and error; info when unset, ACA's default.
func daprLogLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
