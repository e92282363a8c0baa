package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/health"
)

// FuzzReportJSON: whatever the checks report (names, statuses, messages,
// recommendations and details of any bytes), the JSON the Aggregator serves
// decodes back to the Report it ran, strings as encoding/json writes them
// (invalid UTF-8 as U+FFFD) and the timestamp in UTC to the millisecond;
// the IETF format is well-formed JSON with unique member names, holds
// every check once under its name with its status as pass, warn or fail,
// and the HTTP code is 503 exactly when the report is Critical.
func FuzzReportJSON(f *testing.F) {
	f.Add("Database", "Twilio", "healthy", "degraded", "PostgreSQL connection active", "Rotate the token", "detail", true, int64(1768594530123456789))
	f.Add("Database", "Database", "critical", "healthy", "down: password=hunter2 host=db.internal:5432", "", "", true, int64(0))
	f.Add("", "\xff", "", "unknown", "\x00\x1b[31m\u2028", "<script>&amp;</script>", "\xfe\xff", false, int64(-1))
	f.Add("\xff", "\xfe", "degraded", "degraded", "a", "a", "\"quoted\"", false, int64(1<<62))
	f.Add("Google Calendar", "Twilio", "critical", "critical", "token eyJhbGciOiJIUzI1NiJ9.e30.x for +15551234567", "call +15551234567", "", false, int64(-1<<62))
	f.Fuzz(func(t *testing.T, name1, name2, status1, status2, message, recommendation, detail string, critical bool, nanos int64) {
		at := time.Unix(0, nanos)
		agg := health.New([]health.Check{
			{Name: name1, Critical: critical, Func: func(context.Context) health.Result {
				return health.Result{
					Status: health.Status(status1), Message: message, Recommendation: recommendation,
					Details: map[string]any{"detail": detail, "ratio": 0.25, detail: []any{"x", 1.5}},
				}
			}},
			{Name: name2, Func: func(context.Context) health.Result {
				return health.Result{Status: health.Status(status2), Message: detail, Recommendation: recommendation}
			}},
		}, health.WithClock(func() time.Time { return at }), health.WithCacheTTL(time.Hour), health.WithDetails(everyone))
		want := agg.Run(t.Context())

		rec := get(t, agg, "/health")
		if want.Status == health.Critical {
			require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		} else {
			require.Equal(t, http.StatusOK, rec.Code)
		}
		require.NoError(t, uniqueNames(rec.Body.Bytes()), "%s", rec.Body)
		var got health.Report
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), "%s", rec.Body)
		require.Equal(t, want.Status, got.Status)
		require.True(t, want.Timestamp.Truncate(time.Millisecond).Equal(got.Timestamp), "%v %v", want.Timestamp, got.Timestamp)
		require.Equal(t, time.UTC, got.Timestamp.Location())
		require.Equal(t, want.ElapsedMs, got.ElapsedMs)
		require.Equal(t, want.Summary, got.Summary)
		require.Equal(t, coerceAll(want.Recommendations), got.Recommendations)
		require.Len(t, got.Integrations, len(want.Integrations))
		for i, w := range want.Integrations {
			g := got.Integrations[i]
			require.Equal(t, coerce(w.Name), g.Name)
			require.Equal(t, w.Status, g.Status)
			require.Equal(t, coerce(w.Message), g.Message)
			require.Equal(t, coerce(w.Recommendation), g.Recommendation)
			require.Equal(t, coerceJSON(w.Details), coerceJSON(g.Details))
		}

		rec = get(t, agg, "/health", "Accept", "application/health+json")
		require.Equal(t, "application/health+json", rec.Header().Get("Content-Type"))
		require.NoError(t, uniqueNames(rec.Body.Bytes()), "%s", rec.Body)
		var doc struct {
			Status string   `json:"status"`
			Notes  []string `json:"notes"`
			Checks map[string][]struct {
				Status string `json:"status"`
				Time   string `json:"time"`
				Output string `json:"output"`
			} `json:"checks"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc), "%s", rec.Body)
		ietf := map[health.Status]string{health.Healthy: "pass", health.Degraded: "warn", health.Critical: "fail"}
		require.Equal(t, ietf[want.Status], doc.Status)
		require.Equal(t, len(want.Recommendations), len(doc.Notes))
		seen := map[string]int{}
		for _, w := range want.Integrations {
			name := coerce(w.Name)
			checks := doc.Checks[name]
			require.Greater(t, len(checks), seen[name], "check %q missing from %s", name, rec.Body)
			c := checks[seen[name]]
			seen[name]++
			require.Equal(t, ietf[w.Status], c.Status)
			require.Equal(t, want.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"), c.Time)
			if w.Status != health.Healthy {
				require.Equal(t, coerce(w.Message), c.Output)
			}
		}
		total := 0
		for _, cs := range doc.Checks {
			total += len(cs)
		}
		require.Equal(t, len(want.Integrations), total)
	})
}

// coerce is s as encoding/json writes it: each invalid byte as U+FFFD.
func coerce(s string) string { return string([]rune(s)) }

func coerceAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = coerce(s)
	}
	return out
}

// coerceJSON is v after a trip through encoding/json.
func coerceJSON(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// uniqueNames checks that data is one JSON value in which no object has
// two members of the same name (RFC 8259: names SHOULD be unique; parsers
// differ on which one they keep).
func uniqueNames(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := uniqueValue(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the value: %v", err)
	}
	return nil
}

func uniqueValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		names := map[string]bool{}
		for dec.More() {
			name, err := dec.Token()
			if err != nil {
				return err
			}
			if names[name.(string)] {
				return fmt.Errorf("duplicate member %q", name)
			}
			names[name.(string)] = true
			if err := uniqueValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		for dec.More() {
			if err := uniqueValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}
