package components

import (
	"context"
	"slices"
	"testing"
)

func TestDaprTypesSorted(t *testing.T) {
	// IsDaprType searches the list by halves.
	if !slices.IsSorted(daprTypes) {
		t.Error("daprTypes is not sorted")
	}
	for _, typ := range []string{"pubsub.redis", "bindings.cron", "state.redis", "secretstores.azure.keyvault"} {
		if !IsDaprType(typ) {
			t.Errorf("IsDaprType(%q) = false", typ)
		}
	}
}

type kindA interface{ A() }

type implA struct{}

func (implA) A()                                   {}
func (implA) Init(context.Context, Metadata) error { return nil }
func (implA) Close() error                         { return nil }

func TestRegisterChecksTheKindsInterface(t *testing.T) {
	RegisterKind(KindOf[kindA]("registrytest"))
	Register(Info{Type: "registrytest.good", New: func() any { return implA{} }})
	defer func() {
		if recover() == nil {
			t.Error("a type that does not implement its kind's interface registered")
		}
	}()
	Register(Info{Type: "registrytest.bad", New: func() any { return struct{ Component }{} }})
}
