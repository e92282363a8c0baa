package twilioguard

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
)

// The window of recent deliveries Check judges: the last recentSize
// outcomes within recentAge, once there are at least recentMin of them.
const (
	recentSize = 100
	recentAge  = 15 * time.Minute
	recentMin  = 10
)

// recent remembers the outcomes of the latest deliveries: Sends that
// ended (Twilio accepted the message, or the Send failed for a reason
// other than its caller's context) and final status callbacks.
type recent struct {
	threshold float64

	mu   sync.Mutex
	ring [recentSize]outcome
	next int
	n    int
}

type outcome struct {
	at     time.Time
	failed bool
}

func (r *recent) add(at time.Time, failed bool) {
	r.mu.Lock()
	r.ring[r.next] = outcome{at: at, failed: failed}
	r.next = (r.next + 1) % recentSize
	r.n = min(r.n+1, recentSize)
	r.mu.Unlock()
}

// counts returns how many of the outcomes since now-recentAge failed, and
// how many there are.
func (r *recent) counts(now time.Time) (failed, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	since := now.Add(-recentAge)
	for i := range r.n {
		o := r.ring[i]
		if o.at.Before(since) {
			continue
		}
		total++
		if o.failed {
			failed++
		}
	}
	return failed, total
}

// Check returns a health check of the Guard, from what it has seen and
// without a request: Degraded while the breaker of some org is open or
// half-open, or while more than the failure threshold (see
// WithFailureThreshold) of the recent deliveries failed. Its message and
// details hold counts, never org IDs or numbers.
func (g *Guard) Check(name string) health.Check {
	return health.Check{
		Name: name,
		Func: func(context.Context) health.Result { return g.checkResult() },
	}
}

func (g *Guard) checkResult() health.Result {
	open, halfOpen, total := 0, 0, 0
	for _, s := range g.breakers.Snapshot() {
		total++
		switch s.State {
		case breaker.Open:
			open++
		case breaker.HalfOpen:
			halfOpen++
		}
	}
	failed, n := g.recent.counts(g.now())
	details := map[string]any{
		"breakers": total, "open": open, "halfOpen": halfOpen,
		"recentDeliveries": n, "recentFailures": failed,
	}
	msg := fmt.Sprintf("%d of %d org circuit breakers open, %d half-open; %d of %d recent deliveries failed",
		open, total, halfOpen, failed, n)
	tooMany := n >= recentMin && float64(failed) > g.recent.threshold*float64(n)
	if open+halfOpen == 0 && !tooMany {
		return health.Result{Status: health.Healthy, Message: msg, Details: details}
	}
	rec := "Texts to the affected clinics fail fast until Twilio recovers; check Twilio's status and the audit trail"
	if open+halfOpen == 0 {
		rec = "Many texts fail; check the audit trail for Twilio's error codes"
	}
	return health.Result{Status: health.Degraded, Message: msg, Details: details, Recommendation: rec}
}
