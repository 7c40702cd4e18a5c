package netns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace cove holds open: it lasts while this
// value is open, a listener cove opened in it is, or a process runs in it.
// A namespace New made belongs to no file system path, so when cove dies
// (even by SIGKILL) nothing of it is left once its processes are gone.
type Namespace struct {
	f *os.File
	// holder holds a namespace New made in a user namespace (cove not
	// root); nil for one a thread can enter.
	holder *holder
	// join is the command line prefix that starts a process inside a
	// namespace of a user namespace; nil for one a thread can enter.
	join []string
}

// ErrRefused wraps the kernel's refusal to make or enter a namespace: it
// takes root, or a kernel that lets users make user namespaces.
var ErrRefused = errors.New("the kernel refused a network namespace (it takes root, or unprivileged user namespaces: sysctl user.max_user_namespaces above 0, and kernel.unprivileged_userns_clone = 1 where it exists)")

// New makes a network namespace with its loopback interface up and
// nothing else: the only ways in and out are the relays cove opens. As
// root it is cove's own; otherwise, given holder (the command line of a
// process that runs RunHolder: cove itself), it is made inside a user
// namespace that holder's process holds.
func New(holder []string) (*Namespace, error) {
	ns, err := newEntered()
	if err != nil && os.Geteuid() != 0 && len(holder) > 0 {
		return newOwned(holder)
	}
	return ns, err
}

// newEntered makes a namespace from a thread, which takes CAP_SYS_ADMIN.
func newEntered() (*Namespace, error) {
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

// Open holds the namespace at path (/proc/<pid>/ns/net) open. When it
// belongs to a user namespace other than cove's (a replica's, made
// without root), processes start inside through Command, into the user
// namespace of the same process.
func Open(path string) (*Namespace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	n := &Namespace{f: f}
	if dir, ok := strings.CutSuffix(path, "/net"); ok && !ownUserNamespace(f) {
		nsenter, err := exec.LookPath("nsenter")
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("network namespace %s is in a user namespace, entered through nsenter, which is not installed (install util-linux)", path)
		}
		n.join = joinCommand(nsenter, dir+"/")
	}
	return n, nil
}

// nsGetUserns is the ioctl that opens the user namespace a namespace
// belongs to (NS_GET_USERNS).
const nsGetUserns = 0xb701

// ownUserNamespace reports whether the namespace f belongs to this
// process's user namespace; true when the kernel does not say.
func ownUserNamespace(f *os.File) bool {
	fd, err := unix.IoctlRetInt(int(f.Fd()), nsGetUserns)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	var owner, own unix.Stat_t
	if unix.Fstat(fd, &owner) != nil || unix.Stat("/proc/self/ns/user", &own) != nil {
		return true
	}
	return owner.Ino == own.Ino && owner.Dev == own.Dev
}

// Close lets the namespace go once nothing else holds it.
func (n *Namespace) Close() error {
	if n.holder != nil {
		n.holder.close()
	}
	return n.f.Close()
}

// Command returns the command line that starts argv inside the namespace
// when a process forked from a thread that entered it would not be: for a
// namespace in a user namespace, argv runs through nsenter as that user
// namespace's root, which is cove's user on the machine. It returns nil
// for a namespace Enter moves a thread into.
func (n *Namespace) Command(argv []string) []string {
	if n.join == nil {
		return nil
	}
	return append(slices.Clone(n.join), argv...)
}

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
// namespace. For a namespace in a user namespace it does nothing: the
// thread cannot enter, and processes start inside through Command.
func (n *Namespace) Enter() error {
	if n.join != nil {
		return nil
	}
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
	if n.holder != nil {
		return n.holder.dial(ctx, addr)
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
	for _, f := range fws {
		var ln net.Listener
		if ln, err = n.Listen(f.Listen); err != nil {
			break
		}
		lns = append(lns, ln)
	}
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

// Listen opens a TCP listener on addr inside the namespace.
func (n *Namespace) Listen(addr string) (net.Listener, error) {
	if n.holder != nil {
		return n.holder.listen(addr)
	}
	var ln net.Listener
	err := n.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s in the network namespace: %w", addr, err)
		}
		return nil
	})
	return ln, err
}

// Expose relays every connection ln accepts on the machine to target, an
// address inside the namespace (an app's port), until stop is called.
func (n *Namespace) Expose(ln net.Listener, target string, log *slog.Logger) (stop func()) {
	return serve([]net.Listener{ln}, []string{target}, n.DialContext, log)
}

// Do runs fn on a thread inside the namespace, which then returns to the
// machine's: sockets fn opens and processes it starts are inside. A
// namespace in a user namespace refuses it (see Command, Listen).
func (n *Namespace) Do(fn func() error) error {
	if n.join != nil {
		return fmt.Errorf("%w: a thread cannot enter a network namespace of another user namespace", ErrRefused)
	}
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
