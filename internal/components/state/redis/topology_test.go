package redis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
)

// These tests start Redis servers of their own (a Sentinel watching the
// shared Redis, and a three-node cluster) on free ports, so that the
// sentinel and cluster modes run against real topologies. They need the
// redis-server binary and skip without it unless COVE_REQUIRE_SERVICES is
// set.

func redisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("COVE_REQUIRE_SERVICES") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	return bin
}

// startServer runs redis-server with args until the test ends. When the
// server exits or does not listen in time, the test fails with its output.
func startServer(t *testing.T, bin string, port int, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	var out testlog.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("redis on port %d exited (%v) before it listened; its output:\n%s", port, err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis on port %d: not listening within 10s; its output:\n%s", port, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSentinel runs the suite through a Sentinel (failover: true) that
// watches the shared Redis as its master. Sentinel only reads and
// publishes on its hello channel there: it changes no data.
func TestSentinel(t *testing.T) {
	needRedis(t)
	bin := redisServer(t)
	port := testaddr.FreePort(t)
	master := "cove-test-" + randomSuffix()
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 6379 1\n", port, master)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, bin, port, conf, "--sentinel")
	sentinel := goredis.NewSentinelClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer sentinel.Close()
	waitFor(t, 10*time.Second, "sentinel knows the master", func() bool {
		addr, err := sentinel.GetMasterAddrByName(context.Background(), master).Result()
		return err == nil && len(addr) == 2 && addr[1] == "6379"
	})

	conformance.Run(t, func(t *testing.T) state.Store {
		return open(t, map[string]string{
			"redisHost":          fmt.Sprintf("127.0.0.1:%d", port),
			"failover":           "true",
			"sentinelMasterName": master,
		})
	}, conformance.VersionETags(), conformance.LastWriteIgnoresETag())
}

// TestCluster runs the suite on a three-node Redis Cluster (redisType:
// cluster), with the keys of each case in one hash slot so that
// transactions are possible, as Redis Cluster requires.
func TestCluster(t *testing.T) {
	bin := redisServer(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed")
	}
	var addrs []string
	for range 3 {
		// A cluster node also listens on its cluster bus port, port+10000.
		port := testaddr.FreePortWith(t, 10000)
		startServer(t, bin, port, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no")
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	out, err := exec.Command(cli, append([]string{"--cluster", "create"}, append(addrs, "--cluster-replicas", "0", "--cluster-yes")...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	waitFor(t, 20*time.Second, "cluster state ok", func() bool {
		info, err := cc.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})

	conformance.Run(t, func(t *testing.T) state.Store {
		return open(t, map[string]string{"redisHost": strings.Join(addrs, ","), "redisType": "cluster"})
	}, conformance.SameSlotKeys(), conformance.VersionETags(), conformance.LastWriteIgnoresETag())
}

func randomSuffix() string { return fmt.Sprintf("%d", time.Now().UnixNano()) }
