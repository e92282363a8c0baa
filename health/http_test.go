package health_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

var fixedTime = time.Date(2026, 1, 16, 20, 15, 30, 123_000_000, time.UTC)

func fixedClock() time.Time { return fixedTime }

// seedChecks are the integrations of the example.
func seedChecks() []health.Check {
	return []health.Check{
		{Name: "Database", Critical: true, Func: returns(health.Healthy, "PostgreSQL connection active")},
		{Name: "Google Calendar", Func: func(context.Context) health.Result {
			return health.Result{
				Status:         health.Degraded,
				Message:        "Google Calendar token expiring soon",
				Details:        map[string]any{"expiresInSeconds": 250},
				Recommendation: "Google Calendar token expiring soon - will auto-refresh on next use",
			}
		}},
		{Name: "Twilio", Func: returns(health.Healthy, "Twilio account active")},
		{Name: "Circuit breakers", Func: returns(health.Healthy, "all 4 circuit breakers closed")},
	}
}

func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServeHTTPJSON(t *testing.T) {
	agg := health.New(seedChecks(), health.WithClock(fixedClock), health.WithDetails(everyone))
	rec := get(t, agg, "/api/health/integrations")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.JSONEq(t, `{"status":"degraded","timestamp":"2026-01-16T20:15:30.123Z","elapsedMs":0,
		"integrations":[
			{"name":"Database","status":"healthy","message":"PostgreSQL connection active"},
			{"name":"Google Calendar","status":"degraded","message":"Google Calendar token expiring soon",
			 "details":{"expiresInSeconds":250},
			 "recommendation":"Google Calendar token expiring soon - will auto-refresh on next use"},
			{"name":"Twilio","status":"healthy","message":"Twilio account active"},
			{"name":"Circuit breakers","status":"healthy","message":"all 4 circuit breakers closed"}],
		"summary":{"healthy":3,"degraded":1,"critical":0},
		"recommendations":["Google Calendar token expiring soon - will auto-refresh on next use"]}`,
		rec.Body.String())

	// The JSON decodes back into a Report.
	var r health.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
	assert.True(t, fixedTime.Equal(r.Timestamp))
	assert.Equal(t, health.Degraded, r.Status)
	assert.Len(t, r.Integrations, 4)
}

func TestReportTimestampIsUTCWithMillis(t *testing.T) {
	local := time.FixedZone("CET", 3600)
	b, err := json.Marshal(health.Report{Status: health.Healthy, Timestamp: time.Date(2026, 1, 16, 21, 15, 30, 0, local)})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"timestamp":"2026-01-16T20:15:30.000Z"`)
}

func TestServeHTTPIETF(t *testing.T) {
	agg := health.New(seedChecks(), health.WithClock(fixedClock), health.WithDetails(everyone))
	rec := get(t, agg, "/api/health/integrations", "Accept", "application/health+json, application/json;q=0.9")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/health+json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "Accept", rec.Header().Get("Vary"), "the body depends on Accept")
	assert.JSONEq(t, `{"status":"warn",
		"notes":["Google Calendar token expiring soon - will auto-refresh on next use"],
		"checks":{
			"Database":[{"status":"pass","time":"2026-01-16T20:15:30.123Z","observedValue":0,"observedUnit":"ms"}],
			"Google Calendar":[{"status":"warn","time":"2026-01-16T20:15:30.123Z","observedValue":0,"observedUnit":"ms",
				"output":"Google Calendar token expiring soon","details":{"expiresInSeconds":250}}],
			"Twilio":[{"status":"pass","time":"2026-01-16T20:15:30.123Z","observedValue":0,"observedUnit":"ms"}],
			"Circuit breakers":[{"status":"pass","time":"2026-01-16T20:15:30.123Z","observedValue":0,"observedUnit":"ms"}]}}`,
		rec.Body.String())

	rec = get(t, agg, "/api/health/integrations?verbose=0", "Accept", "application/health+json")
	assert.JSONEq(t, `{"status":"warn",
		"notes":["Google Calendar token expiring soon - will auto-refresh on next use"],
		"checks":{
			"Database":[{"status":"pass","time":"2026-01-16T20:15:30.123Z"}],
			"Google Calendar":[{"status":"warn","time":"2026-01-16T20:15:30.123Z","output":"Google Calendar token expiring soon"}],
			"Twilio":[{"status":"pass","time":"2026-01-16T20:15:30.123Z"}],
			"Circuit breakers":[{"status":"pass","time":"2026-01-16T20:15:30.123Z"}]}}`,
		rec.Body.String())
}

func TestServeHTTPIETFDuplicateNamesShareAnArray(t *testing.T) {
	agg := health.New([]health.Check{
		{Name: "db", Critical: true, Func: returns(health.Critical, "primary down")},
		{Name: "db", Func: returns(health.Healthy, "replica up")},
	}, health.WithClock(fixedClock), health.WithoutDetails())
	rec := get(t, agg, "/", "Accept", "application/health+json")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.JSONEq(t, `{"status":"fail","checks":{"db":[
		{"status":"fail","time":"2026-01-16T20:15:30.123Z","output":"primary down"},
		{"status":"pass","time":"2026-01-16T20:15:30.123Z"}]}}`, rec.Body.String())
}

func TestServeHTTPStatusCodes(t *testing.T) {
	tests := []struct {
		status     health.Status
		code       int
		ietfStatus string
	}{
		{health.Healthy, http.StatusOK, "pass"},
		{health.Degraded, http.StatusOK, "warn"},
		{health.Critical, http.StatusServiceUnavailable, "fail"},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			agg := health.New([]health.Check{{Name: "a", Critical: true, Func: returns(tt.status, "m")}})

			rec := get(t, agg, "/")
			assert.Equal(t, tt.code, rec.Code)
			var r health.Report
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
			assert.Equal(t, tt.status, r.Status)

			rec = get(t, agg, "/", "Accept", "application/health+json")
			assert.Equal(t, tt.code, rec.Code)
			var doc struct{ Status string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
			assert.Equal(t, tt.ietfStatus, doc.Status)
		})
	}
}

func TestServeHTTPHead(t *testing.T) {
	agg := health.New(seedChecks())
	rec := httptest.NewRecorder()
	agg.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.NotEmpty(t, rec.Header().Get("Content-Length"))
}

func TestServeHTTPUnencodableDetails(t *testing.T) {
	agg := health.New([]health.Check{{Name: "a", Func: func(context.Context) health.Result {
		return health.Result{Status: health.Healthy, Message: "ok", Details: map[string]any{"ch": make(chan int)}}
	}}})
	for _, accept := range []string{"application/json", "application/health+json"} {
		rec := get(t, agg, "/", "Accept", accept)
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.True(t, json.Valid(rec.Body.Bytes()), rec.Body.String())
		assert.NotContains(t, rec.Body.String(), "details")
	}
}

func TestServeHTTPServesCachedBytes(t *testing.T) {
	var calls atomic.Int64
	agg := health.New([]health.Check{{Name: "a", Func: func(context.Context) health.Result {
		calls.Add(1)
		return health.Result{Status: health.Healthy, Message: "ok"}
	}}}, health.WithCacheTTL(time.Hour))
	first := get(t, agg, "/").Body.String()
	for range 100 {
		assert.Equal(t, first, get(t, agg, "/").Body.String())
	}
	assert.Equal(t, int64(1), calls.Load())
}

func TestLive(t *testing.T) {
	var calls atomic.Int64
	agg := health.New([]health.Check{{Name: "a", Critical: true, Func: func(context.Context) health.Result {
		calls.Add(1)
		return health.Result{Status: health.Critical}
	}}})
	rec := get(t, agg.Live(), "/livez")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Zero(t, calls.Load(), "liveness runs no check")
}

func TestReady(t *testing.T) {
	var critical, optional atomic.Int64
	var criticalStatus atomic.Value
	criticalStatus.Store(health.Healthy)
	agg := health.New([]health.Check{
		{Name: "db", Critical: true, Func: func(context.Context) health.Result {
			critical.Add(1)
			return health.Result{Status: criticalStatus.Load().(health.Status), Message: "m"}
		}},
		{Name: "sms", Func: func(context.Context) health.Result {
			optional.Add(1)
			return health.Result{Status: health.Critical, Message: "down"}
		}},
	}, health.WithCacheTTL(0))

	rec := get(t, agg.Ready(), "/readyz")
	assert.Equal(t, http.StatusOK, rec.Code, "a failing non-critical check does not make the service unready")
	var r health.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
	require.Len(t, r.Integrations, 1)
	assert.Equal(t, "db", r.Integrations[0].Name)
	assert.Zero(t, optional.Load(), "readiness runs only critical checks")

	criticalStatus.Store(health.Critical)
	assert.Equal(t, http.StatusServiceUnavailable, get(t, agg.Ready(), "/readyz").Code)
	assert.Equal(t, int64(2), critical.Load())
	assert.Same(t, agg.Ready(), agg.Ready())
}

func TestReadyIsCached(t *testing.T) {
	var calls atomic.Int64
	agg := health.New([]health.Check{{Name: "db", Critical: true, Func: func(context.Context) health.Result {
		calls.Add(1)
		return health.Result{Status: health.Healthy}
	}}}, health.WithCacheTTL(time.Hour))
	for range 10 {
		assert.Equal(t, http.StatusOK, get(t, agg.Ready(), "/readyz").Code)
	}
	assert.Equal(t, int64(1), calls.Load())
}

func TestReadyWithoutCriticalChecks(t *testing.T) {
	agg := health.New([]health.Check{{Name: "sms", Func: returns(health.Critical, "down")}})
	assert.Equal(t, http.StatusOK, get(t, agg.Ready(), "/readyz").Code)
}

func TestServeHTTPRequestEndsBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agg := health.New([]health.Check{{Name: "slow", Critical: true, Func: sleeps(time.Second, nil)}})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		agg.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.Contains(t, rec.Body.String(), "health check abandoned: context deadline exceeded")
		time.Sleep(time.Second) // let the shared run finish inside the bubble
	})
}

func TestServeHTTPBurstRunsEachCheckOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var db, sms atomic.Int64
		agg := health.New([]health.Check{
			{Name: "db", Critical: true, Func: sleeps(30*time.Millisecond, &db)},
			{Name: "sms", Func: sleeps(80*time.Millisecond, &sms)},
		})
		const requests = 1000
		codes := make([]int, requests)
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() { codes[i] = get(t, agg, "/api/health/integrations").Code })
		}
		wg.Wait()
		assert.Equal(t, int64(1), db.Load(), "1,000 requests ran the check once")
		assert.Equal(t, int64(1), sms.Load())
		for _, code := range codes {
			assert.Equal(t, http.StatusOK, code)
		}
	})
}

// TestServeHTTPAbandonedIETF: a request that ends before the run gets the
// abandoned report in the format it asked for.
func TestServeHTTPAbandonedIETF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agg := health.New([]health.Check{{Name: "slow", Critical: true, Func: sleeps(time.Second, nil)}},
			health.WithClock(fixedClock), health.WithDetails(everyone))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.Header.Set("Accept", "application/health+json")
		agg.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.Equal(t, "application/health+json", rec.Header().Get("Content-Type"))
		assert.JSONEq(t, `{"status":"fail","checks":{"slow":[{"status":"fail","time":"2026-01-16T20:15:30.123Z",
			"output":"health check abandoned: context deadline exceeded"}]}}`, rec.Body.String())
		time.Sleep(time.Second) // let the shared run finish inside the bubble
	})
}

// TestServeHTTPUnencodableDetailsFallbackBody: details that cannot be
// encoded leave the report without details, in the format asked for.
func TestServeHTTPUnencodableDetailsFallbackBody(t *testing.T) {
	agg := health.New([]health.Check{{Name: "a", Func: func(context.Context) health.Result {
		return health.Result{Status: health.Degraded, Message: "slow", Details: map[string]any{"ch": make(chan int)}}
	}}}, health.WithClock(fixedClock), health.WithDetails(everyone))
	rec := get(t, agg, "/")
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"status":"degraded","timestamp":"2026-01-16T20:15:30.123Z","elapsedMs":0,
		"integrations":[{"name":"a","status":"degraded","message":"slow"}],
		"summary":{"healthy":0,"degraded":1,"critical":0},"recommendations":[]}`, rec.Body.String())
	assert.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"))

	rec = get(t, agg, "/", "Accept", "application/health+json")
	assert.Equal(t, "application/health+json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"status":"warn","checks":{"a":[{"status":"warn","time":"2026-01-16T20:15:30.123Z","output":"slow"}]}}`,
		rec.Body.String())
}
