package engine

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// forward listens on each forward's Listen address inside the network
// namespace at nsPath and relays every connection to its Target, dialled
// from this process's own namespace. A socket belongs to the namespace it
// was created in, so one process serves both sides: nothing runs in the
// pod, and the targets stay on the machine's loopback. It takes the right
// to enter the namespace (root, as rootful podman is run).
func forward(nsPath string, fws []Forward, log *slog.Logger) (stop func(), err error) {
	lns, err := listenIn(nsPath, fws)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for i, ln := range lns {
		target := fws[i].Target
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go relay(c, target, log)
			}
		})
	}
	return func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}, nil
}

// listenIn opens the listeners on a thread that enters the namespace and
// leaves it again before it serves anything else.
func listenIn(nsPath string, fws []Forward) ([]net.Listener, error) {
	type result struct {
		lns []net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Not unlocked when leaving fails: the runtime then ends the
		// thread rather than run other goroutines in the pod.
		var res result
		defer func() { done <- res }()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			res.err = fmt.Errorf("this process's network namespace: %w", err)
			return
		}
		defer home.Close()
		ns, err := os.Open(nsPath)
		if err != nil {
			res.err = fmt.Errorf("the pod's network namespace: %w", err)
			runtime.UnlockOSThread()
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			res.err = fmt.Errorf("enter the pod's network namespace (it takes root): %w", err)
			runtime.UnlockOSThread()
			return
		}
		for _, f := range fws {
			ln, err := net.Listen("tcp", f.Listen)
			if err != nil {
				res.err = fmt.Errorf("listen on %s in the pod: %w", f.Listen, err)
				break
			}
			res.lns = append(res.lns, ln)
		}
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			res.err = fmt.Errorf("leave the pod's network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	res := <-done
	if res.err != nil {
		for _, ln := range res.lns {
			ln.Close()
		}
		return nil, res.err
	}
	return res.lns, nil
}

// relay copies between c and a new connection to target until both
// directions are done.
func relay(c net.Conn, target string, log *slog.Logger) {
	defer c.Close()
	t, err := net.Dial("tcp", target)
	if err != nil {
		log.Debug("forward from the pod", "target", target, "err", err)
		return
	}
	defer t.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(t, c)
		closeWrite(t)
		close(done)
	}()
	_, _ = io.Copy(c, t)
	closeWrite(c)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
