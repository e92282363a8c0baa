package health_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/voxanne/resilience/health"
)

func TestWithOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var status atomic.Value
		status.Store(health.Healthy)
		type change struct{ old, new health.Status }
		var (
			mu      sync.Mutex
			changes []change
		)
		agg := health.New([]health.Check{{Name: "a", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: status.Load().(health.Status)}
		}}}, health.WithOnChange(func(old, new health.Report) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, change{old.Status, new.Status})
		}))

		step := func(s health.Status) {
			status.Store(s)
			agg.Run(t.Context())
			// Readiness runs the critical check too, but reports no change.
			get(t, agg.Ready(), "/readyz")
			time.Sleep(time.Second) // let the cache expire
		}
		step(health.Healthy)
		step(health.Healthy)
		step(health.Critical)
		step(health.Critical)
		step(health.Degraded)
		step(health.Healthy)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []change{
			{"", health.Healthy},
			{health.Healthy, health.Critical},
			{health.Critical, health.Degraded},
			{health.Degraded, health.Healthy},
		}, changes)
	})
}

// textLogger logs in text to w, without times.
func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func TestWithLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := textLogger(&buf)
		agg := health.New([]health.Check{
			{Name: "boom", Func: func(context.Context) health.Result { panic("kaboom") }},
		}, health.WithLogger(logger), health.WithCacheTTL(0))
		agg.Run(t.Context())
		agg.Run(t.Context())
		synctest.Wait() // status changes are logged after Run has returned
		out := buf.String()
		assert.Equal(t, 2, strings.Count(out, `level=ERROR msg="health check panicked" check=boom panic=kaboom`), out)
		assert.Equal(t, 1, strings.Count(out, `level=INFO msg="health status" status=degraded`), out)
	})
}

// TestOnChangePanicIsRecoveredAndLogged: a panicking change callback does
// not crash the process; the panic is logged, redacted, like a check's, and
// later changes are still reported.
func TestOnChangePanicIsRecoveredAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var status atomic.Value
		status.Store(health.Healthy)
		var calls atomic.Int64
		agg := health.New([]health.Check{{Name: "a", Func: func(context.Context) health.Result {
			return health.Result{Status: status.Load().(health.Status)}
		}}}, health.WithCacheTTL(0), health.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
			health.WithOnChange(func(old, new health.Report) {
				if calls.Add(1) == 1 {
					panic("pager rejected key=pk_live_1234")
				}
			}))
		agg.Run(t.Context())
		synctest.Wait()
		status.Store(health.Degraded)
		agg.Run(t.Context())
		synctest.Wait()
		assert.Equal(t, int64(2), calls.Load(), "the change after the panic is reported")
		assert.Contains(t, logs.String(), `level=ERROR msg="health change callback panicked" panic="pager rejected key=[redacted]"`)
		assert.NotContains(t, logs.String(), "pk_live_1234")
	})
}

// TestFirstStatusLoggedAtInfo: the first report is not a change from ""
// worth a warning: its status is logged at INFO; changes after it at WARN.
func TestFirstStatusLoggedAtInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var status atomic.Value
		status.Store(health.Healthy)
		agg := health.New([]health.Check{{Name: "a", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: status.Load().(health.Status)}
		}}}, health.WithCacheTTL(0), health.WithLogger(textLogger(&logs)))
		agg.Run(t.Context())
		synctest.Wait()
		assert.Equal(t, "level=INFO msg=\"health status\" status=healthy\n", logs.String())
		status.Store(health.Critical)
		agg.Run(t.Context())
		synctest.Wait()
		assert.Equal(t, "level=INFO msg=\"health status\" status=healthy\n"+
			"level=WARN msg=\"health status changed\" from=healthy to=critical\n", logs.String())
	})
}
