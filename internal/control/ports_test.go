package control

import "testing"

// TestPortAllocatorNeverRepeats asks for more ports than the kernel's
// ephemeral range makes distinct by chance (the birthday bound for about
// 28,000 ports is a repeat in a few hundred): replicas starting at once
// must never be told the same port.
func TestPortAllocatorNeverRepeats(t *testing.T) {
	var a portAllocator
	seen := map[int]bool{}
	for range 2000 {
		p, err := a.free()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
