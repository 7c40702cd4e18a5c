package supervisor

import "time"

// backoff computes restart delays like Kubernetes' CrashLoopBackOff: the
// delay doubles with each restart up to a cap, and a replica that ran long
// enough starts over from the initial delay.
type backoff struct {
	initial, max, reset time.Duration
	last                time.Duration
}

// next returns the delay before restarting a process that ran for ran.
func (b *backoff) next(ran time.Duration) time.Duration {
	if ran >= b.reset {
		b.last = 0
	}
	if b.last == 0 {
		b.last = b.initial
	} else {
		b.last = min(2*b.last, b.max)
	}
	return b.last
}
