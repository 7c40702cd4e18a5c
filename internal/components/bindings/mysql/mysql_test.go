package mysql_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/mysql"
	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const dsn = "root:@tcp(127.0.0.1:3306)/test"

func TestExecQueryClose(t *testing.T) {
	stateconformance.NeedService(t, "MariaDB", "127.0.0.1:3306")
	b, err := componenttest.Open[bindings.Output](t, mysql.Type, map[string]string{"url": dsn})
	if err != nil {
		t.Fatal(err)
	}
	table := strings.TrimSuffix(componenttest.Unique(), "_")
	call := func(op, sql, params string) (*bindings.Response, error) {
		return b.Invoke(t.Context(), &bindings.Request{Operation: op, Metadata: map[string]string{"sql": sql, "params": params}})
	}
	if _, err := call("exec", "CREATE TABLE "+table+" (id INT NOT NULL, name VARCHAR(20), note TEXT)", ""); err != nil {
		t.Fatal(err)
	}
	// A second instance drops the table: the test closes the first. It is
	// opened now, as t's context has ended by the time cleanups run.
	other, err := componenttest.Open[bindings.Output](t, mysql.Type, map[string]string{"url": dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := other.Invoke(context.Background(), &bindings.Request{Operation: "exec", Metadata: map[string]string{"sql": "DROP TABLE " + table}}); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	resp, err := call("exec", "INSERT INTO "+table+" VALUES (?, ?, ?), (?, ?, NULL)", `[1, "ann", "hi", 2, "bo"]`)
	if err != nil || resp.Metadata["rows-affected"] != "2" {
		t.Fatalf("exec = %v, %v", resp, err)
	}
	resp, err = call("query", "SELECT id, name, note FROM "+table+" WHERE id > ? ORDER BY id", `[0]`)
	if err != nil || string(resp.Data) != `[{"id":1,"name":"ann","note":"hi"},{"id":2,"name":"bo"}]` {
		t.Fatalf("query = %s, %v", resp.Data, err)
	}
	if _, err := call("close", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := call("query", "SELECT 1", ""); err == nil || !strings.Contains(err.Error(), "component is closed") {
		t.Errorf("query after close = %v", err)
	}
}

func TestInitErrors(t *testing.T) {
	for _, props := range []map[string]string{{}, {"url": "not a dsn"}, {"url": "root:@tcp(127.0.0.1:1)/test"}} {
		if _, err := componenttest.Open[bindings.Output](t, mysql.Type, props); err == nil {
			t.Errorf("Init(%v) succeeded", props)
		}
	}
}
