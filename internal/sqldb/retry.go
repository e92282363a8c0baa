package sqldb

import (
	"context"
	"time"
)

// busyAttempts bounds the attempts of Retry.
const busyAttempts = 5

// Retry runs fn again while it fails with an error d.Busy accepts (a lock
// held beyond busy_timeout, a deadlock), busyAttempts times in all, waiting
// 2ms before the second attempt and twice as long before each next. It
// returns fn's last error, also when ctx ends during a wait.
func (d Dialect) Retry(ctx context.Context, fn func() error) error {
	return backoff{attempts: busyAttempts, wait: 2 * time.Millisecond, retryable: d.Busy}.do(ctx, fn)
}

// backoff is a bounded retry with exponential waits.
type backoff struct {
	attempts  int              // at most, the first included
	wait      time.Duration    // before the second attempt; doubled after each
	retryable func(error) bool // the errors worth another attempt
	ctxErr    bool             // when ctx ends during a wait, return ctx.Err() rather than the last error
}

// do calls fn until it succeeds, fails with an error b does not retry, or
// has been called b.attempts times, and returns its last error.
func (b backoff) do(ctx context.Context, fn func() error) error {
	wait := b.wait
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !b.retryable(err) || attempt >= b.attempts {
			return err
		}
		if cerr := Sleep(ctx, wait); cerr != nil {
			if b.ctxErr {
				return cerr
			}
			return err
		}
		wait *= 2
	}
}

// Sleep waits for d, or until ctx ends and then returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
