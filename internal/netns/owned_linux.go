package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Without root, a network namespace belongs to a user namespace cove makes
// for it, which maps cove's user to root inside: processes there bind ports
// below 1024 (ACA's 80), and what they write on disk belongs to cove's
// user. The kernel lets a thread enter such a namespace only from a
// single-threaded process, which cove is not, so a holder process (cove
// re-executed, RunHolder) is born in both namespaces and holds them: cove
// asks it for the sockets of the relays, listeners and dialled
// connections made inside, which work in cove's process once passed over.
// Processes start inside through nsenter (util-linux), which is single
// threaded and enters both before it execs them.

// holderMsg bounds a request to the holder or its answer.
const holderMsg = 512

// newOwned starts the holder, argv, in a new user and network namespace.
func newOwned(argv []string) (*Namespace, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("%w: processes enter a user namespace through nsenter, which is not installed (install util-linux)", ErrRefused)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("a socket to the namespace holder: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "holder"), os.NewFile(uintptr(fds[1]), "holder")
	defer theirs.Close()
	var stderr strings.Builder
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = &stderr
	// No parent-death signal: it comes when the thread that forked the
	// holder ends, which the runtime may end with a goroutine locked to
	// it later. The holder ends when cove's end of its socket closes, at
	// Close or when cove dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	fail := func(err error) (*Namespace, error) {
		ours.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w: %s", err, s)
		}
		return nil, err
	}
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return fail(fmt.Errorf("a socket to the namespace holder: %w", err))
	}
	ctl := c.(*net.UnixConn)
	_ = ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, holderMsg)
	n, err := ctl.Read(buf)
	if err != nil || string(buf[:n]) != "ok" {
		ctl.Close()
		if err == nil {
			err = errors.New(string(buf[:n]))
		}
		return fail(fmt.Errorf("the network namespace's holder: %w", err))
	}
	_ = ctl.SetReadDeadline(time.Time{})
	pid := strconv.Itoa(cmd.Process.Pid)
	f, err := os.Open("/proc/" + pid + "/ns/net")
	if err != nil {
		ctl.Close()
		return fail(fmt.Errorf("the new network namespace: %w", err))
	}
	return &Namespace{f: f, holder: &holder{cmd: cmd, ctl: ctl}, join: joinCommand(nsenter, "/proc/"+pid+"/ns/")}, nil
}

// holder is the process that holds a user namespace and the network
// namespace in it, and cove's end of the socket it takes requests on.
type holder struct {
	cmd *exec.Cmd
	ctl *net.UnixConn
}

func (h *holder) close() {
	h.ctl.Close() // the holder exits when its socket closes
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}

// joinCommand is the command line prefix that starts a process in the
// user and network namespaces in dir (/proc/<pid>/ns/) through nsenter:
// cove's own credentials, which are the user namespace's root.
func joinCommand(nsenter, dir string) []string {
	return []string{nsenter, "--preserve-credentials", "--user=" + dir + "user", "--net=" + dir + "net", "--"}
}

// socket asks the holder to listen on, or dial, addr inside and returns
// the socket it made.
func (h *holder) socket(ctx context.Context, op, addr string) (*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	reply := os.NewFile(uintptr(fds[0]), "reply")
	defer reply.Close()
	theirs := os.NewFile(uintptr(fds[1]), "reply")
	timeout := dialTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	req := fmt.Sprintf("%s %s %d", op, addr, timeout.Milliseconds())
	_, _, err = h.ctl.WriteMsgUnix([]byte(req), unix.UnixRights(int(theirs.Fd())), nil)
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("ask the network namespace's holder: %w", err)
	}
	c, err := net.FileConn(reply)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	buf, oob := make([]byte, holderMsg), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.(*net.UnixConn).ReadMsgUnix(buf, oob)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%s %s in the network namespace: %w", op, addr, err)
	}
	if string(buf[:n]) != "ok" {
		return nil, fmt.Errorf("%s %s in the network namespace: %s", op, addr, buf[:n])
	}
	fd, err := receivedFD(oob[:oobn])
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), op+" "+addr), nil
}

func receivedFD(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("the network namespace's holder sent no socket: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("the network namespace's holder sent no socket: %v", err)
	}
	return fds[0], nil
}

func (h *holder) listen(addr string) (net.Listener, error) {
	f, err := h.socket(context.Background(), "listen", addr)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileListener(f)
}

func (h *holder) dial(ctx context.Context, addr string) (net.Conn, error) {
	f, err := h.socket(ctx, "dial", addr)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileConn(f)
}

// RunHolder is the body of the process newOwned starts, born in a user
// namespace and a network namespace: it brings lo up, says so on the
// socket at descriptor 3, then serves cove's requests on it (listen on or
// dial an address, answered with the socket) until cove closes it. It
// returns the process's exit status.
func RunHolder() int {
	f := os.NewFile(3, "cove")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cove: the network namespace holder is started by cove, with its socket as descriptor 3")
		return 2
	}
	ctl := c.(*net.UnixConn)
	if err := loopbackUp(); err != nil {
		_, _ = ctl.Write([]byte(err.Error()))
		return 1
	}
	if _, err := ctl.Write([]byte("ok")); err != nil {
		return 1
	}
	buf, oob := make([]byte, holderMsg), make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := ctl.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return 0
		}
		fd, err := receivedFD(oob[:oobn])
		if err != nil {
			continue
		}
		go answer(os.NewFile(uintptr(fd), "reply"), string(buf[:n]))
	}
}

// answer makes the socket req asks for and sends it on reply.
func answer(reply *os.File, req string) {
	defer reply.Close()
	var op, addr string
	var ms int64
	_, err := fmt.Sscanf(req, "%s %s %d", &op, &addr, &ms)
	var sock interface{ File() (*os.File, error) }
	if err == nil {
		switch op {
		case "listen":
			var ln net.Listener
			if ln, err = net.Listen("tcp", addr); err == nil {
				defer ln.Close()
				sock = ln.(*net.TCPListener)
			}
		case "dial":
			var c net.Conn
			d := net.Dialer{Timeout: time.Duration(ms) * time.Millisecond, FallbackDelay: -1}
			if c, err = d.Dial("tcp", addr); err == nil {
				defer c.Close()
				sock = c.(*net.TCPConn)
			}
		default:
			err = fmt.Errorf("unknown request %q", op)
		}
	}
	var f *os.File
	if err == nil {
		f, err = sock.File()
	}
	if err != nil {
		_ = unix.Sendmsg(int(reply.Fd()), []byte(err.Error()), nil, nil, 0)
		return
	}
	defer f.Close()
	_ = unix.Sendmsg(int(reply.Fd()), []byte("ok"), unix.UnixRights(int(f.Fd())), nil, 0)
}
