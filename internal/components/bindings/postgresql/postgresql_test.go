package postgresql_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/postgresql"
	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const conn = "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable"

func TestExecQueryClose(t *testing.T) {
	stateconformance.NeedService(t, "PostgreSQL", "127.0.0.1:5432")
	b, err := componenttest.Open[bindings.Output](t, postgresql.Type, map[string]string{"connectionString": conn})
	if err != nil {
		t.Fatal(err)
	}
	table := strings.TrimSuffix(componenttest.Unique(), "_")
	call := func(op, sql, params string) (*bindings.Response, error) {
		return b.Invoke(t.Context(), &bindings.Request{Operation: op, Metadata: map[string]string{"sql": sql, "params": params}})
	}
	if _, err := call("exec", "CREATE TABLE "+table+" (id int, name text)", ""); err != nil {
		t.Fatal(err)
	}
	// A second instance drops the table: the test closes the first. It is
	// opened now, as t's context has ended by the time cleanups run.
	other, err := componenttest.Open[bindings.Output](t, postgresql.Type, map[string]string{"connectionString": conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := other.Invoke(context.Background(), &bindings.Request{Operation: "exec", Metadata: map[string]string{"sql": "DROP TABLE " + table}}); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	resp, err := call("exec", "INSERT INTO "+table+" VALUES ($1, $2), ($3, $4)", `[1, "ann", 2, "bo"]`)
	if err != nil || resp.Metadata["rows-affected"] != "2" || resp.Metadata["operation"] != "exec" || resp.Metadata["duration"] == "" {
		t.Fatalf("exec = %v, %v", resp, err)
	}
	resp, err = call("query", "SELECT id, name FROM "+table+" WHERE id > $1 ORDER BY id", `[0]`)
	if err != nil || string(resp.Data) != `[[1,"ann"],[2,"bo"]]` {
		t.Fatalf("query = %s, %v", resp.Data, err)
	}
	if _, err := call("query", "SELECT nope FROM "+table, ""); err == nil {
		t.Error("a bad query succeeded")
	}
	if _, err := call("exec", "", ""); err == nil || !strings.Contains(err.Error(), "required metadata not set: sql") {
		t.Errorf("exec without sql = %v", err)
	}
	if _, err := call("close", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := call("query", "SELECT 1", ""); err == nil || !strings.Contains(err.Error(), "component is closed") {
		t.Errorf("query after close = %v", err)
	}
}
