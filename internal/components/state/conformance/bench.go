package conformance

import (
	"testing"
	"time"
)

// Compare benchmarks a store operation against the direct client call it
// stands for: it runs raw b.N times untimed, then store b.N times as the
// benchmark, and reports raw-ns/op and x-raw (the store's time as a
// multiple of raw's) beside ns/op. Each store's benchmarks use it, so
// their numbers read the same way.
func Compare(b *testing.B, raw, store func(i int) error) {
	b.Helper()
	b.StopTimer()
	start := time.Now()
	for i := range b.N {
		if err := raw(i); err != nil {
			b.Fatalf("raw call: %v", err)
		}
	}
	rawTime := time.Since(start)

	b.ResetTimer()
	b.StartTimer()
	for i := range b.N {
		if err := store(i); err != nil {
			b.Fatalf("store call: %v", err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
	if rawTime > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(rawTime), "x-raw")
	}
}
