package pubsub

import (
	"slices"
	"strings"
)

// topicScopes is what one app may do on one component's topics, read from
// the component's metadata as daprd reads it.
type topicScopes struct {
	allowed   []string // allowedTopics: when set, the only topics there are
	protected []string // protectedTopics: need a scope naming them
	publish   []string // this app's publishingScopes; empty for none given
	subscribe []string // this app's subscriptionScopes; empty for none given
}

// scopesFor reads the scope items of a component's metadata for appID.
func scopesFor(appID string, props map[string]string) topicScopes {
	return topicScopes{
		allowed:   topicList(property(props, "allowedTopics")),
		protected: topicList(property(props, "protectedTopics")),
		publish:   appTopics(appID, property(props, "publishingScopes")),
		subscribe: appTopics(appID, property(props, "subscriptionScopes")),
	}
}

func (t topicScopes) publishes(topic string) bool  { return t.allows(topic, t.publish) }
func (t topicScopes) subscribes(topic string) bool { return t.allows(topic, t.subscribe) }

// allows applies daprd's rule: outside allowedTopics nothing is allowed; a
// protected topic, or any topic once the app has a scope list, must be in
// the app's scope list.
func (t topicScopes) allows(topic string, scoped []string) bool {
	if len(t.allowed) > 0 && !slices.Contains(t.allowed, topic) {
		return false
	}
	if !slices.Contains(t.protected, topic) && len(scoped) == 0 {
		return true
	}
	return slices.Contains(scoped, topic)
}

// topicList splits "a, b,c" into its topics, spaces removed, each once.
func topicList(v string) []string {
	var out []string
	for _, t := range strings.Split(strings.ReplaceAll(v, " ", ""), ",") {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// appTopics reads appID's topics from "app1=t1,t2;app2=t3".
func appTopics(appID, v string) []string {
	var out []string
	for _, app := range strings.Split(strings.ReplaceAll(v, " ", ""), ";") {
		id, topics, ok := strings.Cut(app, "=")
		if !ok || id != appID {
			continue
		}
		for _, t := range strings.Split(topics, ",") {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
