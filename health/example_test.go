package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
)

// seedAggregator is the integrations endpoint of the examples, with a fixed
// clock that makes the timestamp (and the elapsed time) reproducible.
func seedAggregator(opts ...health.Option) *health.Aggregator {
	at := time.Date(2026, 1, 16, 20, 15, 30, 123_000_000, time.UTC)
	return health.New([]health.Check{
		{Name: "Database", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: health.Healthy, Message: "PostgreSQL connection active"}
		}},
		{Name: "Google Calendar", Func: func(context.Context) health.Result {
			return health.Result{
				Status:         health.Degraded,
				Message:        "Google Calendar token expiring soon",
				Details:        map[string]any{"expiresInSeconds": 250},
				Recommendation: "Google Calendar token expiring soon - will auto-refresh on next use",
			}
		}},
	}, append([]health.Option{health.WithClock(func() time.Time { return at })}, opts...)...)
}

// The report of the integrations endpoint, as any caller sees it: details
// are hidden unless WithDetails admits the request.
func Example() {
	mux := http.NewServeMux()
	mux.Handle("GET /api/health/integrations", seedAggregator())
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health/integrations", nil))

	var out bytes.Buffer
	_ = json.Indent(&out, rec.Body.Bytes(), "", "  ")
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(out.String())
	// Output:
	// 200 application/json
	// {
	//   "status": "degraded",
	//   "timestamp": "2026-01-16T20:15:30.123Z",
	//   "elapsedMs": 0,
	//   "integrations": [
	//     {
	//       "name": "Database",
	//       "status": "healthy",
	//       "message": "PostgreSQL connection active"
	//     },
	//     {
	//       "name": "Google Calendar",
	//       "status": "degraded",
	//       "message": "Google Calendar token expiring soon",
	//       "recommendation": "Google Calendar token expiring soon - will auto-refresh on next use"
	//     }
	//   ],
	//   "summary": {
	//     "healthy": 1,
	//     "degraded": 1,
	//     "critical": 0
	//   },
	//   "recommendations": [
	//     "Google Calendar token expiring soon - will auto-refresh on next use"
	//   ]
	// }
}

// staffKey marks, in a request's context, a caller that the service's
// authentication middleware has verified as staff.
type staffKey struct{}

// Details are for the callers WithDetails admits, here staff that the
// authentication middleware has verified.
func ExampleWithDetails() {
	isStaff := func(r *http.Request) bool { return r.Context().Value(staffKey{}) == true }
	agg := seedAggregator(health.WithDetails(isStaff))

	anonymous := httptest.NewRequest(http.MethodGet, "/api/health/integrations", nil)
	staff := anonymous.WithContext(context.WithValue(anonymous.Context(), staffKey{}, true))
	for _, req := range []*http.Request{anonymous, staff} {
		rec := httptest.NewRecorder()
		agg.ServeHTTP(rec, req)
		var r health.Report
		_ = json.Unmarshal(rec.Body.Bytes(), &r)
		fmt.Println(r.Integrations[1].Name, r.Integrations[1].Details)
	}
	// Output:
	// Google Calendar map[]
	// Google Calendar map[expiresInSeconds:250]
}

// A plain func(ctx) error, such as (*sql.DB).PingContext, becomes a check.
// The error text goes in the details, with its addresses redacted.
func ExampleFromError() {
	ping := func(context.Context) error { return errors.New("dial tcp 10.0.0.5:5432: connection refused") }
	agg := health.New([]health.Check{
		health.FromError("Database", ping, health.AsCritical(), health.WithTimeout(time.Second)),
		health.FromError("Cache", func(context.Context) error { return nil }),
	})
	r := agg.Run(context.Background())
	fmt.Println(r.Status)
	for _, res := range r.Integrations {
		fmt.Printf("%s: %s (%s) %v\n", res.Name, res.Status, res.Message, res.Details)
	}
	// Output:
	// critical
	// Database: critical (check failed) map[error:dial tcp [ip]:5432: connection refused]
	// Cache: healthy (ok) map[]
}

// A failing check that is not critical can only degrade the service.
func ExampleAggregator_Run() {
	agg := health.New([]health.Check{
		{Name: "Database", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: health.Healthy, Message: "ok"}
		}},
		{Name: "Twilio", Func: func(context.Context) health.Result {
			return health.Result{Status: health.Critical, Message: "401 Unauthorized",
				Recommendation: "Rotate the Twilio auth token"}
		}},
	})
	r := agg.Run(context.Background())
	fmt.Println(r.Status, r.Summary, r.Recommendations)
	// Output:
	// degraded {1 1 0} [Rotate the Twilio auth token]
}

// Circuit breakers that are open are counted in the message; their keys,
// which name tenants, are in the details.
func ExampleBreakers() {
	source := health.SnapshotFunc(func() []breaker.Snapshot {
		return []breaker.Snapshot{
			{Key: "twilio:clinic-7", State: breaker.Open},
			{Key: "twilio:clinic-9", State: breaker.Closed},
		}
	})
	r := health.New([]health.Check{health.Breakers("SMS breakers", source)}).Run(context.Background())
	fmt.Println(r.Integrations[0].Status, "-", r.Integrations[0].Message)
	fmt.Println(r.Integrations[0].Details["keys"])
	// Output:
	// degraded - 1 of 2 circuit breakers not closed (1 open, 0 half-open)
	// [twilio:clinic-7]
}

// Liveness and readiness handlers in the Kubernetes style.
func ExampleAggregator_Ready() {
	agg := health.New([]health.Check{
		{Name: "Database", Critical: true, Func: func(context.Context) health.Result {
			return health.Result{Status: health.Healthy, Message: "ok"}
		}},
		{Name: "SMS", Func: func(context.Context) health.Result {
			return health.Result{Status: health.Critical, Message: "down"}
		}},
	})
	mux := http.NewServeMux()
	mux.Handle("GET /livez", agg.Live())
	mux.Handle("GET /readyz", agg.Ready())
	for _, path := range []string{"/livez", "/readyz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /livez 200
	// /readyz 200
}
