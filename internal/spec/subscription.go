package spec

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// Subscription is a declarative Dapr Subscription resource (apiVersion
// dapr.io/v2alpha1 with routes, or dapr.io/v1alpha1 with one route), or
// ACA's daprSubscriptions resource: the apps in Scopes (every app when
// empty) receive the topic's events at the routes.
type Subscription struct {
	Name   string   `json:"name"`
	File   string   `json:"file,omitempty"`
	Line   int      `json:"line,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	// Pubsub and Topic name what is subscribed.
	Pubsub string `json:"pubsubname"`
	Topic  string `json:"topic"`
	// Rules are tried in order; Default takes the events no rule matched
	// (v1alpha1's route is its Default).
	Rules           []SubscriptionRule `json:"rules,omitempty"`
	Default         string             `json:"default,omitempty"`
	DeadLetterTopic string             `json:"deadLetterTopic,omitempty"`
	Metadata        map[string]string  `json:"metadata,omitempty"`
	// Bulk is bulkSubscribe when enabled: events go to the app in batches.
	Bulk *SubscriptionBulk `json:"bulkSubscribe,omitempty"`
}

// SubscriptionBulk is a subscription's bulkSubscribe; a limit of 0 takes
// daprd's default (100 messages, 1000 ms).
type SubscriptionBulk struct {
	MaxMessagesCount   int `json:"maxMessagesCount,omitempty"`
	MaxAwaitDurationMs int `json:"maxAwaitDurationMs,omitempty"`
}

// SubscriptionRule routes the events its CEL expression matches.
type SubscriptionRule struct {
	Match string `json:"match"`
	Path  string `json:"path"`
}

// InScope tells whether the subscription applies to the app with appID.
func (s *Subscription) InScope(appID string) bool {
	if len(s.Scopes) == 0 {
		return true
	}
	for _, sc := range s.Scopes {
		if sc == appID {
			return true
		}
	}
	return false
}

type subscriptionFile struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   objectMeta       `json:"metadata"`
	Spec       subscriptionSpec `json:"spec"`
	Scopes     []string         `json:"scopes"`
	Status     Ignored          `json:"status"`
}

type subscriptionSpec struct {
	Pubsubname      string                  `json:"pubsubname"`
	Topic           string                  `json:"topic"`
	Route           string                  `json:"route"`
	Routes          *subscriptionRoutes     `json:"routes"`
	DeadLetterTopic string                  `json:"deadLetterTopic"`
	Metadata        map[string]dynamicValue `json:"metadata"`
	BulkSubscribe   *bulkSubscribe          `json:"bulkSubscribe"`
}

type subscriptionRoutes struct {
	Rules   []SubscriptionRule `json:"rules"`
	Default string             `json:"default"`
}

type bulkSubscribe struct {
	Enabled            bool `json:"enabled"`
	MaxMessagesCount   int  `json:"maxMessagesCount"`
	MaxAwaitDurationMs int  `json:"maxAwaitDurationMs"`
}

// parseSubscription parses a file holding one Subscription: a Dapr
// resource, or ACA's daprSubscriptions resource (no apiVersion, its
// settings under properties).
func parseSubscription(file string, data []byte) (*Subscription, *decoder) {
	d := newDecoder(file)
	root := d.parse(data)
	if root == nil {
		return nil, d
	}
	if root.Kind == yaml.MappingNode && !hasKey(root, "apiVersion") && !hasKey(root, "kind") && hasKey(root, "properties") {
		return parseACASubscriptionNode(d, root), d
	}
	return parseSubscriptionNode(d, root), d
}

// acaSubscriptionFile is ACA's Microsoft.App/managedEnvironments/
// daprSubscriptions resource, as ARM templates and the REST API write it.
type acaSubscriptionFile struct {
	Name       string                    `json:"name"`
	Type       string                    `json:"type"`
	ID         string                    `json:"id"`
	SystemData Ignored                   `json:"systemData"`
	Properties acaSubscriptionProperties `json:"properties"`
}

type acaSubscriptionProperties struct {
	PubsubName      string                  `json:"pubsubName"`
	Topic           string                  `json:"topic"`
	Routes          *subscriptionRoutes     `json:"routes"`
	DeadLetterTopic string                  `json:"deadLetterTopic"`
	Metadata        map[string]dynamicValue `json:"metadata"`
	BulkSubscribe   *bulkSubscribe          `json:"bulkSubscribe"`
	Scopes          []string                `json:"scopes"`
}

// parseACASubscriptionNode reads ACA's daprSubscriptions resource; a
// subscription without a name is named after its file, as the resource is
// named after the URL it is PUT to.
func parseACASubscriptionNode(d *decoder, root *yaml.Node) *Subscription {
	var f acaSubscriptionFile
	d.decodeDocument(root, &f)
	if f.Type != "" && !strings.EqualFold(f.Type, "Microsoft.App/managedEnvironments/daprSubscriptions") {
		d.errorf("type", "%q is not Microsoft.App/managedEnvironments/daprSubscriptions", f.Type)
	}
	p := f.Properties
	s := &Subscription{
		Name: f.Name, File: d.file, Line: nodePos(root).line, Scopes: p.Scopes,
		Pubsub: p.PubsubName, Topic: p.Topic, DeadLetterTopic: p.DeadLetterTopic, Metadata: metadataValues(p.Metadata),
	}
	if s.Name == "" {
		base := filepath.Base(d.file)
		s.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	d.requiredString("properties.pubsubName", s.Pubsub, "the pub/sub component to subscribe to")
	d.requiredString("properties.topic", s.Topic, "the topic to subscribe to")
	if p.Routes != nil {
		s.Rules, s.Default = p.Routes.Rules, p.Routes.Default
		checkRules(d, "properties.routes", p.Routes.Rules)
	}
	if s.Default == "" && len(s.Rules) == 0 {
		d.errorf("properties.routes", "required: the app's route for the events (routes.default, or routes.rules with match and path)")
	}
	s.Bulk = checkBulk(d, "properties.bulkSubscribe", p.BulkSubscribe)
	return s
}

// checkBulk reads a bulkSubscribe block: nil unless enabled, a negative
// limit an error.
func checkBulk(d *decoder, path string, b *bulkSubscribe) *SubscriptionBulk {
	if b == nil || !b.Enabled {
		return nil
	}
	if b.MaxMessagesCount < 0 {
		d.errorf(path+".maxMessagesCount", "%d is negative: give the most events per batch, or leave it out for 100", b.MaxMessagesCount)
	}
	if b.MaxAwaitDurationMs < 0 {
		d.errorf(path+".maxAwaitDurationMs", "%d is negative: give how long a batch waits to fill in ms, or leave it out for 1000", b.MaxAwaitDurationMs)
	}
	return &SubscriptionBulk{MaxMessagesCount: b.MaxMessagesCount, MaxAwaitDurationMs: b.MaxAwaitDurationMs}
}

// checkRules checks each routing rule's path and CEL expression.
func checkRules(d *decoder, path string, rules []SubscriptionRule) {
	for i, rule := range rules {
		rp := fmt.Sprintf("%s.rules[%d]", path, i)
		d.requiredString(rp+".path", rule.Path, "the app's route for the events this rule matches")
		if err := CheckRuleMatch(rule.Match); err != nil {
			d.errorf(rp+".match", "%s", err)
		}
	}
}

// metadataValues turns metadata values read as any scalar into strings.
func metadataValues(md map[string]dynamicValue) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = string(v)
	}
	return out
}

// parseSubscriptionNode checks a Subscription as daprd reads it, each
// problem at its line: the names it needs, routes in the shape of its
// apiVersion, and every rule's CEL expression.
func parseSubscriptionNode(d *decoder, root *yaml.Node) *Subscription {
	var f subscriptionFile
	d.decodeDocument(root, &f)
	v2 := f.APIVersion == "dapr.io/v2alpha1"
	switch {
	case f.APIVersion == "":
		d.errorf("apiVersion", "required: dapr.io/v2alpha1 (routes) or dapr.io/v1alpha1 (route)")
	case !v2 && f.APIVersion != "dapr.io/v1alpha1":
		d.errorf("apiVersion", "%q is not dapr.io/v2alpha1 or dapr.io/v1alpha1", f.APIVersion)
	}
	if f.Kind != "Subscription" && d.requiredString("kind", f.Kind, "Subscription") {
		d.errorf("kind", "this file holds a Dapr %s, not a Subscription", f.Kind)
	}
	s := &Subscription{
		Name: f.Metadata.Name, File: d.file, Line: nodePos(root).line, Scopes: f.Scopes,
		Pubsub: f.Spec.Pubsubname, Topic: f.Spec.Topic, DeadLetterTopic: f.Spec.DeadLetterTopic,
	}
	d.requiredString("metadata.name", s.Name, "the subscription's name")
	d.requiredString("spec.pubsubname", s.Pubsub, "the pub/sub component to subscribe to")
	d.requiredString("spec.topic", s.Topic, "the topic to subscribe to")
	s.Metadata = metadataValues(f.Spec.Metadata)
	switch {
	case v2 && f.Spec.Route != "":
		d.errorf("spec.route", "dapr.io/v2alpha1 subscriptions route with spec.routes (rules and default); spec.route is v1alpha1's")
	case !v2 && f.Spec.Routes != nil && f.APIVersion != "":
		d.errorf("spec.routes", "spec.routes needs apiVersion dapr.io/v2alpha1; dapr.io/v1alpha1 takes spec.route")
	}
	if r := f.Spec.Routes; r != nil {
		s.Rules, s.Default = r.Rules, r.Default
		checkRules(d, "spec.routes", r.Rules)
	} else {
		s.Default = f.Spec.Route
	}
	if s.Default == "" && len(s.Rules) == 0 && f.APIVersion != "" {
		if v2 {
			d.errorf("spec.routes", "required: the app's route for the events (routes.default, or routes.rules with match and path)")
		} else {
			d.errorf("spec.route", "required: the app's route for the events, e.g. /orders")
		}
	}
	s.Bulk = checkBulk(d, "spec.bulkSubscribe", f.Spec.BulkSubscribe)
	return s
}

// CheckRuleMatch parses a routing rule's CEL expression. Names are not
// checked (daprd resolves them when the rule runs, `event` being the
// CloudEvent); an empty expression matches every event.
func CheckRuleMatch(match string) error {
	if strings.TrimSpace(match) == "" {
		return nil
	}
	env, err := cel.NewEnv()
	if err != nil {
		return err
	}
	if _, iss := env.Parse(match); iss.Err() != nil {
		msg, _, _ := strings.Cut(iss.Err().Error(), "\n") // the rest draws the position
		return fmt.Errorf("%q is not a CEL expression: %s", match, strings.TrimPrefix(msg, "ERROR: <input>:"))
	}
	return nil
}
