package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/control"
)

// TestPrintSubscriptionsShowsStreaming: a streaming subscription is listed
// beside the app's own, its route shown as the stream it goes to.
func TestPrintSubscriptionsShowsStreaming(t *testing.T) {
	st := control.Status{Apps: []control.AppStatus{{Name: "orders", Subscriptions: []control.SubscriptionStatus{
		{Pubsub: "pubsub", Topic: "orders", Routes: []string{"/orders"}, Type: "PROGRAMMATIC"},
		{Pubsub: "pubsub", Topic: "orders", Routes: []string{"/"}, DeadLetterTopic: "poison", Type: control.SubscriptionStreaming},
	}}}}
	var out bytes.Buffer
	if err := printSubscriptions(&out, st); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[1]), " ") != "orders pubsub orders /orders -" ||
		strings.Join(strings.Fields(lines[2]), " ") != "orders pubsub orders (streaming) poison" {
		t.Errorf("printed:\n%s", out.String())
	}
}
