package control

import "testing"

func TestMemoryBytes(t *testing.T) {
	for q, want := range map[string]int64{"1Gi": 1 << 30, "0.5Gi": 1 << 29, "512Mi": 512 << 20, "1G": 1e9, "2048": 2048} {
		if got, err := memoryBytes(q); err != nil || got != want {
			t.Errorf("memoryBytes(%q) = %d, %v; want %d", q, got, err, want)
		}
	}
	for _, q := range []string{"", "lots", "-1Gi", "Gi"} {
		if _, err := memoryBytes(q); err == nil {
			t.Errorf("memoryBytes(%q) succeeded", q)
		}
	}
}
