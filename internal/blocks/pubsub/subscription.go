package pubsub

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
)

// Subscription is one topic subscription of an app: where its events go.
type Subscription struct {
	Pubsub string `json:"pubsubname"`
	Topic  string `json:"topic"`
	// Rules are tried in order; the first whose Match is true (or empty)
	// gives the route. An event no rule takes is not delivered.
	Rules           []Rule            `json:"rules"`
	DeadLetterTopic string            `json:"deadLetterTopic,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	// Type is TypeProgrammatic or TypeDeclarative, for the metadata API.
	Type string `json:"type"`
	// Bulk, when set, delivers the events in batches (bulkSubscribe).
	Bulk *Bulk `json:"-"`
}

// Where a subscription comes from, as the metadata API names it.
const (
	TypeProgrammatic = "PROGRAMMATIC"
	TypeDeclarative  = "DECLARATIVE"
	TypeStreaming    = "STREAMING"
)

// Rule routes the events its CEL expression matches to Path.
type Rule struct {
	Match string `json:"match,omitempty"`
	Path  string `json:"path"`
	prg   cel.Program
}

// NewRule compiles match, a CEL expression over the CloudEvent as `event`
// (event.type, event.data.kind, ...); "" matches every event.
func NewRule(match, path string) (Rule, error) {
	r := Rule{Match: match, Path: path}
	if strings.TrimSpace(match) == "" {
		return r, nil
	}
	prg, err := compileMatch(match)
	if err != nil {
		return r, fmt.Errorf("rule %q: %w", match, err)
	}
	r.prg = prg
	return r, nil
}

// compileMatch compiles a rule's expression. Identifiers it does not know
// are declared as dynamic values, as daprd declares them, so `event` and
// anything else is resolved when the rule runs.
func compileMatch(expr string) (cel.Program, error) {
	var opts []cel.EnvOption
	declared := map[string]bool{}
	for range 16 {
		env, err := cel.NewEnv(opts...)
		if err != nil {
			return nil, err
		}
		ast, iss := env.Compile(expr)
		if iss.Err() == nil {
			return env.Program(ast)
		}
		added := false
		for _, e := range iss.Errors() {
			name, ok := undeclared(e.Message)
			if !ok {
				return nil, iss.Err()
			}
			if !declared[name] {
				declared[name], added = true, true
				opts = append(opts, cel.Variable(name, cel.DynType))
			}
		}
		if !added {
			return nil, iss.Err()
		}
	}
	return nil, fmt.Errorf("too many undeclared names in %q", expr)
}

// undeclared reads the name out of CEL's "undeclared reference to 'x'".
func undeclared(msg string) (string, bool) {
	const prefix = "undeclared reference to '"
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "'")
	return name, ok && name != ""
}

// route returns the path of the first rule that takes d's event; ok is
// false when none does. The event is decoded whole only when a rule with
// an expression is tried: such a rule may read any attribute.
func (s *Subscription) route(d *Delivery) (path string, ok bool, err error) {
	for _, r := range s.Rules {
		if r.prg == nil {
			return r.Path, true, nil
		}
		ev, err := d.Attributes()
		if err != nil {
			return "", false, fmt.Errorf("the event does not decode: %w", err)
		}
		out, _, err := r.prg.Eval(map[string]any{"event": ev})
		if err != nil {
			return "", false, fmt.Errorf("rule %q: %w", r.Match, err)
		}
		if b, isBool := out.Value().(bool); isBool && b {
			return r.Path, true, nil
		}
	}
	return "", false, nil
}

// appSubscription is one entry of an app's GET /dapr/subscribe answer, in
// Dapr's v1 (route) or v2 (routes) shape.
type appSubscription struct {
	Pubsub string `json:"pubsubname"`
	Topic  string `json:"topic"`
	Route  string `json:"route"`
	Routes struct {
		Rules []struct {
			Match string `json:"match"`
			Path  string `json:"path"`
		} `json:"rules"`
		Default string `json:"default"`
	} `json:"routes"`
	Metadata        map[string]string `json:"metadata"`
	DeadLetterTopic string            `json:"deadLetterTopic"`
	BulkSubscribe   struct {
		Enabled            bool `json:"enabled"`
		MaxMessagesCount   int  `json:"maxMessagesCount"`
		MaxAwaitDurationMs int  `json:"maxAwaitDurationMs"`
	} `json:"bulkSubscribe"`
}

// ParseAppSubscriptions reads an app's GET /dapr/subscribe answer. An entry
// without pubsub name, topic or route is skipped, as daprd skips it.
func ParseAppSubscriptions(body []byte) ([]Subscription, error) {
	var in []appSubscription
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("the app's subscriptions are not a JSON list of subscriptions: %w", err)
	}
	out := make([]Subscription, 0, len(in))
	for _, a := range in {
		if a.Pubsub == "" || a.Topic == "" {
			continue
		}
		rules := make([]Rule, 0, len(a.Routes.Rules))
		for _, r := range a.Routes.Rules {
			rules = append(rules, Rule{Match: r.Match, Path: r.Path})
		}
		def := a.Routes.Default
		if def == "" {
			def = a.Route // the v1 shape
		}
		sub, err := NewSubscription(a.Pubsub, a.Topic, rules, def, a.DeadLetterTopic, a.Metadata, TypeProgrammatic)
		if err != nil {
			return nil, fmt.Errorf("subscription to %s/%s: %w", a.Pubsub, a.Topic, err)
		}
		if len(sub.Rules) == 0 {
			continue // no route: daprd leaves it out
		}
		bs := a.BulkSubscribe
		sub.Bulk = NewBulk(bs.Enabled, bs.MaxMessagesCount, bs.MaxAwaitDurationMs)
		out = append(out, sub)
	}
	return out, nil
}

// NewSubscription builds a subscription from its parts, as an app or a
// declarative Subscription resource gives them: rules (Match compiled
// here) in order, then the default route as a rule that takes every event.
func NewSubscription(pubsub, topic string, rules []Rule, defaultRoute, deadLetter string, md map[string]string, typ string) (Subscription, error) {
	out := Subscription{Pubsub: pubsub, Topic: topic, DeadLetterTopic: deadLetter, Metadata: md, Type: typ}
	for _, r := range rules {
		rule, err := NewRule(r.Match, r.Path)
		if err != nil {
			return out, err
		}
		out.Rules = append(out.Rules, rule)
	}
	if defaultRoute != "" {
		out.Rules = append(out.Rules, Rule{Path: defaultRoute})
	}
	return out, nil
}
