package netns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace cove holds open: it lasts while this
// value is open, a listener cove opened in it is, or a process runs in it.
// A namespace New made belongs to no file system path, so when cove dies
// (even by SIGKILL) nothing of it is left once its processes are gone.
type Namespace struct {
	f *os.File
}

// ErrRefused wraps the kernel's refusal to make or enter a namespace: it
// takes root (CAP_SYS_ADMIN).
var ErrRefused = errors.New("the kernel refused a network namespace (it takes root)")

// New makes a network namespace with its loopback interface up and
// nothing else: the only ways in and out are the relays cove opens.
func New() (*Namespace, error) {
	var ns *Namespace
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return fmt.Errorf("the new network namespace: %w", err)
		}
		if err := loopbackUp(); err != nil {
			f.Close()
			return err
		}
		ns = &Namespace{f: f}
		return nil
	})
	return ns, err
}

// Open holds the namespace at path (/proc/<pid>/ns/net) open.
func Open(path string) (*Namespace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	return &Namespace{f: f}, nil
}

// Close lets the namespace go once nothing else holds it.
func (n *Namespace) Close() error { return n.f.Close() }

// ID names the namespace as /proc/<pid>/ns/net links do: "net:[inode]".
func (n *Namespace) ID() string {
	var st unix.Stat_t
	if err := unix.Fstat(int(n.f.Fd()), &st); err != nil {
		return ""
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

// Enter moves the calling thread into the namespace, for good: processes
// it starts afterwards run there. The caller has locked its goroutine to
// the thread (runtime.LockOSThread) and never unlocks it, so that the
// runtime ends the thread rather than run other goroutines in the
// namespace.
func (n *Namespace) Enter() error {
	if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return nil
}

// DialContext opens a TCP connection to addr (an IP address and port)
// inside the namespace.
func (n *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, err := netip.ParseAddrPort(addr); err != nil {
		// A name would be resolved, and Go resolves on other threads.
		return nil, fmt.Errorf("dial %s in a network namespace: an IP address and port is needed", addr)
	}
	var c net.Conn
	err := n.Do(func() error {
		// No second address family raced on another goroutine: the socket
		// is made on this thread.
		d := net.Dialer{FallbackDelay: -1}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Forward listens on each forward's Listen address inside the namespace
// and relays every connection to its Target, dialled from the machine's
// namespace. stop closes the listeners.
func (n *Namespace) Forward(fws []Forward, log *slog.Logger) (stop func(), err error) {
	var lns []net.Listener
	err = n.Do(func() error {
		for _, f := range fws {
			ln, err := net.Listen("tcp", f.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s in the network namespace: %w", f.Listen, err)
			}
			lns = append(lns, ln)
		}
		return nil
	})
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	targets := make([]string, len(fws))
	for i, f := range fws {
		targets[i] = f.Target
	}
	return serve(lns, targets, machineDial, log), nil
}

// Expose relays every connection ln accepts on the machine to target, an
// address inside the namespace (an app's port), until stop is called.
func (n *Namespace) Expose(ln net.Listener, target string, log *slog.Logger) (stop func()) {
	return serve([]net.Listener{ln}, []string{target}, n.DialContext, log)
}

// Do runs fn on a thread inside the namespace, which then returns to the
// machine's: sockets fn opens and processes it starts are inside.
func (n *Namespace) Do(fn func() error) error {
	return onThread(func() error {
		if err := n.Enter(); err != nil {
			return err
		}
		return fn()
	})
}

// onThread runs fn on a thread of its own and, when fn is done, moves the
// thread back to the network namespace it started in. If it cannot go
// back, the thread stays locked and the runtime ends it with its
// goroutine, so no other goroutine ever runs in a namespace it did not
// ask for.
func onThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("this process's network namespace: %w", err)
			return
		}
		defer home.Close()
		err = fn()
		if serr := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); serr != nil {
			done <- errors.Join(err, fmt.Errorf("leave the network namespace: %w", serr))
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

// loopbackUp brings up the calling thread's namespace's lo, which a new
// namespace has down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}
