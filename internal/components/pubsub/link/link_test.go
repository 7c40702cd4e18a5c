package link_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cove-env/cove/internal/components/pubsub/link"
)

func TestDropEndsBoundContextsAndRenewStartsAfresh(t *testing.T) {
	l := link.New(t.Context())
	before, done := l.Bind(t.Context())
	defer done()
	l.Renew() // a first connection report: nothing ends
	if before.Err() != nil {
		t.Fatal("Renew on a live link ended a bound context")
	}
	l.Drop()
	<-before.Done()
	if err := link.Err(before, before.Err()); !errors.Is(err, link.ErrDropped) {
		t.Fatalf("cause %v, want ErrDropped", err)
	}
	l.Renew()
	after, done2 := l.Bind(t.Context())
	defer done2()
	if after.Err() != nil {
		t.Fatal("a context bound after Renew has ended")
	}
	ctx, cancel := context.WithCancel(t.Context())
	bound, done3 := l.Bind(ctx)
	defer done3()
	cancel()
	<-bound.Done()
	if err := link.Err(bound, bound.Err()); !errors.Is(err, context.Canceled) {
		t.Fatalf("a context cancelled by its caller reports %v", err)
	}
}
