package jetstream_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/jetstream"
)

// TestEmbeddedConformance runs the suite on the embedded server: each
// broker instance has its own server and directory, as each process
// would, so the cases that model two processes use one instance.
func TestEmbeddedConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, jetstream.Type, fast) },
		conformance.SingleInstance(), conformance.Ordered(), conformance.MetadataRoundTrip(),
		conformance.RedeliveryWithin(5*time.Second))
}

func TestEmbeddedNeedsADirectory(t *testing.T) {
	_, err := conformance.OpenMetadata(t, components.Metadata{Name: "pubsub", Type: jetstream.Type})
	if err == nil || !strings.Contains(err.Error(), "natsURL") {
		t.Fatalf("init without natsURL and directory: %v, want an error naming natsURL", err)
	}
}

// childEnv makes the test binary a publisher on the embedded server in the
// named directory, printing each acknowledged message, until killed.
const childEnv = "COVE_TEST_JETSTREAM_PUBLISHER_DIR"

const killTopic = "orders"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(publishUntilKilled(dir))
	}
	os.Exit(m.Run())
}

func embeddedMetadata(dir string) components.Metadata {
	return components.Metadata{Name: "pubsub", Type: jetstream.Type, Version: "v1", BaseDir: dir}
}

func publishUntilKilled(dir string) int {
	b := jetstream.New()
	if err := b.Init(context.Background(), embeddedMetadata(dir)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		body := "m-" + strconv.Itoa(i)
		if err := b.Publish(context.Background(), &pubsub.PublishRequest{Topic: killTopic, Data: []byte(body)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Fprintln(out, body)
		_ = out.Flush()
	}
}

// TestEmbeddedKeepsAckedPublishesAcrossKill9 kills the process hosting
// the embedded server while it publishes, restarts the server on the same
// directory, and expects every acknowledged message to be delivered.
func TestEmbeddedKeepsAckedPublishesAcrossKill9(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		acked[sc.Text()] = true
		if len(acked) == 2000 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acknowledgements printed before the kill landed count too.
	for sc.Scan() {
		acked[sc.Text()] = true
	}
	_ = cmd.Wait()
	if len(acked) < 2000 {
		t.Fatalf("the publisher stopped after %d messages: %s", len(acked), stderr.String())
	}

	ps, err := conformance.OpenMetadata(t, embeddedMetadata(dir))
	if err != nil {
		t.Fatalf("restart on the same directory: %v", err)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	done := make(chan struct{})
	err = ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: killTopic, Group: "g"}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		mu.Lock()
		defer mu.Unlock()
		got[string(m.Data)] = true
		missing := 0
		for k := range acked {
			if !got[k] {
				missing++
			}
		}
		if missing == 0 && len(got) >= len(acked) {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return pubsub.Ack
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	var missing []string
	for k := range acked {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged messages lost after kill -9, e.g. %q", len(missing), len(acked), missing[:min(5, len(missing))])
	}
	t.Logf("%d acknowledged messages before kill -9, all delivered after restart (%d delivered)", len(acked), len(got))
}

// TestEmbeddedStoreIsExclusive checks that a second embedded server cannot
// open a store directory in use, and can once the first has closed.
func TestEmbeddedStoreIsExclusive(t *testing.T) {
	dir := t.TempDir()
	first, err := conformance.OpenMetadata(t, embeddedMetadata(dir))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = conformance.OpenMetadata(t, embeddedMetadata(dir))
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "natsURL") {
		t.Fatalf("second server on one store: %v, want it refused, naming natsURL", err)
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conformance.OpenMetadata(t, embeddedMetadata(dir)); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
}
