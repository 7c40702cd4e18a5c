package supervisor

import (
	"bufio"
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
)

// listeningPorts returns the TCP ports (IPv4 and IPv6) on which processes
// of group pgid listen, sorted, from /proc: the group's processes by their
// stat, their sockets by the inodes their descriptors link to, and the
// listening sockets of their network namespace from net/tcp and net/tcp6.
func listeningPorts(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	netDir := ""
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if _, _, pgrp, ok := procStat(e.Name()); !ok || pgrp != pgid {
			continue
		}
		n := len(inodes)
		socketInodes(e.Name(), inodes)
		if netDir == "" && len(inodes) > n {
			netDir = "/proc/" + e.Name() + "/net/"
		}
	}
	if netDir == "" {
		return nil
	}
	var ports []int
	for _, f := range []string{"tcp", "tcp6"} {
		ports = appendListening(ports, netDir+f, inodes)
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// socketInodes adds the inodes of the sockets process pid holds open.
func socketInodes(pid string, into map[string]bool) {
	dir := "/proc/" + pid + "/fd/"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return // gone, or not ours to read
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + fd.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			into[strings.TrimSuffix(ino, "]")] = true
		}
	}
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// appendListening adds the local ports of the listening sockets in file (a
// /proc/net/tcp table) whose inode is one of inodes.
func appendListening(ports []int, file string, inodes map[string]bool) []int {
	data, err := os.ReadFile(file)
	if err != nil {
		return ports
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen || !inodes[f[9]] {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			ports = append(ports, int(p))
		}
	}
	return ports
}
