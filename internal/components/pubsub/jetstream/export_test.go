package jetstream

import "github.com/nats-io/nats-server/v2/server"

// EmbeddedServer is the broker's embedded server, nil when it connected to
// natsURL, for benchmarks that reach the same server with nats.go alone.
func EmbeddedServer(b *Broker) *server.Server {
	if b.embedded == nil {
		return nil
	}
	return b.embedded.srv
}
