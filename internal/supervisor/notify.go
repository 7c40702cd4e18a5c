package supervisor

import "sync"

// notifier hands status changes to a callback in order, from one goroutine
// that exists only while changes are pending. Replica goroutines never wait
// for the callback, so the callback may call back into the Supervisor (even
// Stop) without deadlocking.
type notifier struct {
	fn func(Status)

	mu      sync.Mutex
	queue   []Status
	running bool
}

func (n *notifier) send(s Status) {
	if n.fn == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queue = append(n.queue, s)
	if !n.running {
		n.running = true
		go n.drain()
	}
}

func (n *notifier) drain() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.queue = nil
			n.mu.Unlock()
			return
		}
		s := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.fn(s)
	}
}
