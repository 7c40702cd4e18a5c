package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/test/internal/testenv"
)

// outsideIP is an address of this machine other than loopback; without one
// the test is skipped.
func outsideIP(t *testing.T) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no address other than loopback")
	return ""
}

// TestTriage runs the workshop's verification list against the triage
// example on the embedded SQLite state store.
func TestTriage(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required: the workshop drives the sidecar with it")
	}
	dir := copyExample(t, "triage")
	e := up(t, filepath.Join(dir, "cove.yaml"))

	st := e.status()
	replicas := map[string]int{}
	var pids []int
	for _, a := range st.Apps {
		for _, r := range a.Replicas {
			if !r.Ready || r.PID <= 0 || r.Port == 0 || r.DaprHTTPPort == 0 || r.DaprGRPCPort == 0 {
				t.Errorf("replica %s of %s: %+v, want ready with pid and ports", r.Name, a.Name, r)
			}
			replicas[a.Name]++
			pids = append(pids, r.PID)
		}
	}
	if diff := cmp.Diff(map[string]int{"triage-backend": 2, "triage-frontend": 1, "triage-notifier": 1}, replicas); diff != "" {
		t.Fatalf("replicas per app (-want +got):\n%s", diff)
	}

	t.Run("replicas listen on loopback only", func(t *testing.T) {
		ip := outsideIP(t)
		for _, a := range st.Apps {
			for _, r := range a.Replicas {
				addr := net.JoinHostPort(ip, strconv.Itoa(r.Port))
				if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
					c.Close()
					t.Errorf("replica %s answers on %s, beyond loopback", r.Name, addr)
				}
			}
		}
	})

	t.Run("invoke backend health through the frontend's sidecar", func(t *testing.T) {
		out, err := e.cove("exec", "triage-frontend", "--", "sh", "-c",
			"curl -s -f http://localhost:$DAPR_HTTP_PORT/v1.0/invoke/triage-backend/method/api/health")
		if err != nil {
			t.Fatal(err)
		}
		var health map[string]string
		if err := json.Unmarshal([]byte(out), &health); err != nil || health["status"] != "healthy" || health["storage"] != "dapr" {
			t.Fatalf("health = %q (%v), want status healthy with dapr storage", out, err)
		}
	})

	t.Run("state write then read through the backend's sidecar", func(t *testing.T) {
		_, err := e.cove("exec", "triage-backend", "--", "sh", "-c",
			`curl -s -f -X POST http://localhost:$DAPR_HTTP_PORT/v1.0/state/statestore -H Content-Type:application/json `+
				`-d '[{"key":"patient-001","value":{"name":"Jane Doe","urgency":"High"}}]'`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.cove("exec", "triage-backend", "--", "sh", "-c",
			"curl -s -f http://localhost:$DAPR_HTTP_PORT/v1.0/state/statestore/patient-001")
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"name":"Jane Doe","urgency":"High"}`; strings.TrimSpace(out) != want {
			t.Fatalf("read patient-001 = %q, want %q", out, want)
		}
		out, err = e.cove("exec", "triage-backend", "--", "sh", "-c",
			`curl -s -f -X POST http://localhost:$DAPR_HTTP_PORT/v1.0-alpha1/state/statestore/query -d '{"filter":{"EQ":{"name":"Jane Doe"}}}'`)
		if err != nil {
			t.Fatal(err)
		}
		var q struct{ Results []struct{ Key string } }
		if err := json.Unmarshal([]byte(out), &q); err != nil || len(q.Results) != 1 || q.Results[0].Key != "patient-001" {
			t.Fatalf("query name = Jane Doe: %q (%v), want patient-001", out, err)
		}
	})

	t.Run("cove logs prints the backend replicas' output", func(t *testing.T) {
		out, err := e.cove("logs", "triage-backend", "--tail", "50")
		if err != nil {
			t.Fatal(err)
		}
		// Each line is prefixed with its replica's name, as cove ps lists it.
		var names []string
		for _, a := range e.status().Apps {
			if a.Name == "triage-backend" {
				for _, r := range a.Replicas {
					names = append(names, r.Name)
				}
			}
		}
		if len(names) != 2 {
			t.Fatalf("triage-backend has replicas %v, want 2", names)
		}
		for _, r := range names {
			if !regexp.MustCompile(regexp.QuoteMeta(r) + ` +\| .*triage-backend listening on`).MatchString(out) {
				t.Errorf("cove logs lacks %s's start line:\n%s", r, out)
			}
		}
		if _, err := e.cove("logs", "no-such-app"); err == nil || !strings.Contains(err.Error(), "cove ps") {
			t.Errorf("cove logs of an unknown app: %v, want an error that points at cove ps", err)
		}
	})

	t.Run("internal app by name through HTTP_PROXY", func(t *testing.T) {
		out, err := e.cove("exec", "triage-frontend", "--", "curl", "-s", "-f", "http://triage-backend/api/health")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `"healthy"`) {
			t.Fatalf("http://triage-backend/api/health = %q", out)
		}
	})

	t.Run("internal app by name without a proxy", func(t *testing.T) {
		// cove exec resolves app names as the replica does: getent goes
		// through glibc's resolver, and the address it names is the one
		// the edge serves the app on.
		out, err := e.cove("exec", "triage-frontend", "--", "getent", "hosts", "triage-backend")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(out)
		if len(f) < 2 || !strings.HasPrefix(f[0], "127.") || f[1] != "triage-backend" {
			t.Fatalf("getent hosts triage-backend = %q, want the app's loopback address", out)
		}
		if os.Geteuid() != 0 {
			return // port 80 on the app's address takes root; HTTP_PROXY covers it
		}
		out, err = e.cove("exec", "triage-frontend", "--", "curl", "-s", "-f", "--noproxy", "*", "http://triage-backend/api/health")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `"healthy"`) {
			t.Fatalf("http://triage-backend/api/health without the proxy = %q", out)
		}
	})

	t.Run("edge: frontend is public, backend is internal", func(t *testing.T) {
		if code, body := e.edge(t, http.MethodGet, "triage-frontend", "/", ""); code != http.StatusOK || !strings.Contains(body, "Patient triage") {
			t.Errorf("frontend through the edge: %d %q", code, body)
		}
		if code, body := e.edge(t, http.MethodGet, "triage-backend", "/api/health", ""); code != http.StatusNotFound {
			t.Errorf("backend through the edge: %d %q, want 404", code, body)
		}
	})

	t.Run("a patient posted through the frontend is seen by every backend replica", func(t *testing.T) {
		name := fmt.Sprintf("Patient %d", time.Now().UnixNano())
		code, body := e.edge(t, http.MethodPost, "triage-frontend", "/api/patients",
			`{"name":"`+name+`","urgency":"High","notes":"chest pain"}`)
		if code != http.StatusCreated {
			t.Fatalf("POST /api/patients: %d %q", code, body)
		}
		for i := range 20 {
			code, body := e.edge(t, http.MethodGet, "triage-frontend", "/api/patients", "")
			if code != http.StatusOK || !strings.Contains(body, name) {
				t.Fatalf("read %d: %d, patient missing from %q", i+1, code, body)
			}
		}
	})

	t.Run("a new patient reaches the notifier through pub/sub", func(t *testing.T) {
		name := fmt.Sprintf("Notified %d", time.Now().UnixNano())
		if code, body := e.edge(t, http.MethodPost, "triage-frontend", "/api/patients", `{"name":"`+name+`","urgency":"Low"}`); code != http.StatusCreated {
			t.Fatalf("POST /api/patients: %d %q", code, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := e.cove("exec", "triage-frontend", "--", "curl", "-s", "-f", "http://triage-notifier/api/notifications")
			if err == nil && strings.Contains(out, name) {
				var ns []struct{ Name, Urgency, EventID string }
				if err := json.Unmarshal([]byte(out), &ns); err != nil {
					t.Fatalf("notifications %q: %v", out, err)
				}
				for _, n := range ns {
					if n.Name == name && (n.Urgency != "Low" || n.EventID == "") {
						t.Errorf("notification %+v, want urgency Low and the event's id", n)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the notifier did not hear of %s within 10s: %q, %v", name, out, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// cove ps lists it with its route.
		ps, err := e.cove("ps")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^triage-notifier +pubsub +patient-admitted +/events/patient-admitted +-$`).MatchString(ps) {
			t.Errorf("cove ps lacks the notifier's subscription:\n%s", ps)
		}
		// The notifier's sidecar lists the subscription it asked the app for.
		out, err := e.cove("exec", "triage-notifier", "--", "sh", "-c", "curl -s -f http://localhost:$DAPR_HTTP_PORT/v1.0/metadata")
		if err != nil {
			t.Fatal(err)
		}
		var md struct {
			Subscriptions []struct{ PubsubName, Topic, Type string }
		}
		if err := json.Unmarshal([]byte(out), &md); err != nil || len(md.Subscriptions) != 1 ||
			md.Subscriptions[0].Topic != "patient-admitted" || md.Subscriptions[0].Type != "PROGRAMMATIC" {
			t.Errorf("notifier metadata subscriptions = %q (%v)", out, err)
		}
	})

	t.Run("HTTPS and HTTP/2 through the edge with the environment CA", func(t *testing.T) {
		caPath, err := e.cove("env", "ca")
		if err != nil {
			t.Fatal(err)
		}
		pem, err := os.ReadFile(strings.TrimSpace(caPath))
		if err != nil {
			t.Fatalf("cove env ca printed %q: %v", caPath, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no PEM certificate", caPath)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		get := func(app string) *http.Response {
			t.Helper()
			tr.TLSClientConfig.ServerName = app + ".localhost"
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+st.Edge.HTTPS+"/", nil)
			req.Host = app + ".localhost"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		if resp := get("triage-frontend"); resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Errorf("https frontend: %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
		}
		if resp := get("triage-backend"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("https backend: %s, want 404 (internal app)", resp.Status)
		}
	})

	t.Run("the official Dapr Go SDK over the backend sidecar's gRPC port", func(t *testing.T) {
		var grpcPort int
		for _, a := range st.Apps {
			if a.Name == "triage-backend" {
				grpcPort = a.Replicas[0].DaprGRPCPort
			}
		}
		c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", grpcPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Written over HTTP by curl in an earlier subtest: the same bytes.
		item, err := c.GetState(t.Context(), "statestore", "patient-001", nil)
		if err != nil || string(item.Value) != `{"name":"Jane Doe","urgency":"High"}` {
			t.Errorf("GetState(patient-001) = %q, %v", item.Value, err)
		}
		if err := c.SaveState(t.Context(), "statestore", "sdk-key", []byte("from the sdk"), nil); err != nil {
			t.Fatal(err)
		}
		item, err = c.GetState(t.Context(), "statestore", "sdk-key", nil)
		if err != nil || string(item.Value) != "from the sdk" || item.Etag == "" {
			t.Errorf("GetState(sdk-key) = %q etag %q, %v", item.Value, item.Etag, err)
		}
		out, err := c.InvokeMethod(t.Context(), "triage-backend", "api/health", "get")
		if err != nil || !strings.Contains(string(out), `"healthy"`) {
			t.Errorf("InvokeMethod(triage-backend, api/health) = %q, %v", out, err)
		}
		q, err := c.QueryStateAlpha1(t.Context(), "statestore", `{"filter":{"EQ":{"urgency":"High"}},"sort":[{"key":"name"}]}`, nil)
		if err != nil || len(q.Results) == 0 || q.Results[0].Key != "patient-001" {
			t.Errorf("QueryStateAlpha1(urgency High) = %+v, %v; want patient-001 first", q, err)
		}
		md, err := c.GetMetadata(t.Context())
		if err != nil || md.ID != "triage-backend" || len(md.RegisteredComponents) != 2 {
			t.Errorf("GetMetadata = %+v, %v", md, err)
		}
	})

	e.stop()
	for _, pid := range pids {
		if testenv.Alive(pid) {
			t.Errorf("replica process %d still alive after Ctrl-C", pid)
		}
	}
	if left := testenv.ProcessesIn(dir); len(left) > 0 {
		t.Errorf("processes left behind after Ctrl-C:\n%s", strings.Join(left, "\n"))
	}
}

// edge sends a request to an app through the public edge listener.
func (e *env) edge(t *testing.T, method, app, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, fmt.Sprintf("http://127.0.0.1:%d%s", e.httpPort, path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = app + ".localhost"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
