package control

import (
	"fmt"
	"net"
)

// freePort asks the kernel for a free loopback port. The port is released
// before the replica binds it, so another process could take it in
// between. The kernel hands out ephemeral ports in a spread-out order, so
// this is rare; a replica that hits it fails to listen and shows as
// restarting in `cove ps`. Containers will not have the race: each gets
// its own network namespace.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
