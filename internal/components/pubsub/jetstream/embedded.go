package jetstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/cove-env/cove/internal/components"
)

// The embedded default: a pubsub.jetstream component without natsURL runs
// a JetStream server inside the process, reachable only in process (no
// port), storing its streams under <BaseDir>/pubsub/<component name>. So
// the same component file needs no broker under cove, and on daprd
// (which has no embedded server) runs once natsURL names a JetStream
// server. JetStream writes each message to its file before acknowledging
// the publish, so an acknowledged publish survives the process being
// killed; syncAlways (cove's key) also fsyncs each write, for machine
// crashes.

// storeLockWait is how long Init waits for another instance to let go of
// the store directory.
const storeLockWait = 3 * time.Second

// embeddedReady bounds the embedded server's start, which replays its
// stored streams.
const embeddedReady = 30 * time.Second

type embeddedServer struct {
	srv    *server.Server
	unlock func()
	// desc names the server in messages.
	desc string
}

// embeddedMetadata is the embedded server's own metadata.
type embeddedMetadata struct {
	SyncAlways bool `metadata:"syncAlways"`
}

func startEmbedded(ctx context.Context, md components.Metadata, syncAlways bool) (*embeddedServer, error) {
	if md.BaseDir == "" {
		return nil, errors.New("metadata natsURL is not set and there is no state directory for the embedded JetStream server; set natsURL to a JetStream server (nats://host:4222)")
	}
	dir := filepath.Join(md.BaseDir, "pubsub", safeName(md.Name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded JetStream server: %w", err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, storeLockWait)
	defer cancel()
	unlock, err := lockStore(lockCtx, dir)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "cove-" + safeName(md.Name),
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: syncAlways,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded JetStream server in %s: %w", dir, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(embeddedReady) {
		srv.Shutdown()
		unlock()
		return nil, fmt.Errorf("embedded JetStream server in %s did not start within %v", dir, embeddedReady)
	}
	return &embeddedServer{srv: srv, unlock: unlock, desc: "the embedded JetStream server in " + dir}, nil
}

func (e *embeddedServer) stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.unlock()
}
