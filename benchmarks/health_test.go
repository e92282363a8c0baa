package benchmarks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/voxanne/resilience/health"
)

// discardWriter is a ResponseWriter that keeps one header map and drops the
// body, so that the benchmark measures the handler, not the recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// healthChecks are ten instant checks with details, like a real service's.
func healthChecks() []health.Check {
	checks := make([]health.Check, 10)
	for i := range checks {
		name := "integration-" + string(rune('a'+i))
		checks[i] = health.Check{Name: name, Critical: i == 0, Func: func(context.Context) health.Result {
			return health.Result{
				Status:  health.Healthy,
				Message: name + " answering",
				Details: map[string]any{"latencyMs": 12, "region": "eu-west-1"},
			}
		}}
	}
	return checks
}

func BenchmarkHealth(b *testing.B) {
	serveParallel := func(b *testing.B, agg *health.Aggregator, accept, target string) {
		b.Helper()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			w := &discardWriter{h: make(http.Header)}
			for pb.Next() {
				agg.ServeHTTP(w, req)
			}
			if w.code != 0 && w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	// Details are shown to every request, as to an operator: the larger body.
	everyone := health.WithDetails(func(*http.Request) bool { return true })
	cached := func() *health.Aggregator {
		return health.New(healthChecks(), health.WithCacheTTL(time.Hour), everyone)
	}

	b.Run("cached-parallel", func(b *testing.B) {
		serveParallel(b, cached(), "", "/api/health/integrations")
	})
	b.Run("cached-parallel-ietf", func(b *testing.B) {
		serveParallel(b, cached(), "application/health+json", "/api/health/integrations")
	})
	b.Run("cached-parallel-verbose0", func(b *testing.B) {
		serveParallel(b, cached(), "", "/api/health/integrations?verbose=0")
	})
	b.Run("default-ttl-parallel", func(b *testing.B) {
		// A fresh run every second, as in production.
		serveParallel(b, health.New(healthChecks(), everyone), "", "/api/health/integrations")
	})
	b.Run("cached-parallel-recorder", func(b *testing.B) {
		agg := cached()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/api/health/integrations", nil)
			for pb.Next() {
				agg.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
	b.Run("cached-run", func(b *testing.B) {
		agg := cached()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			agg.Run(ctx)
		}
	})
	b.Run("uncached-run-10-checks", func(b *testing.B) {
		agg := health.New(healthChecks(), health.WithCacheTTL(0))
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			agg.Run(ctx)
		}
	})
	b.Run("uncached-serve-10-checks", func(b *testing.B) {
		agg := health.New(healthChecks(), health.WithCacheTTL(0), everyone)
		req := httptest.NewRequest(http.MethodGet, "/api/health/integrations", nil)
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			agg.ServeHTTP(w, req)
		}
	})
}
