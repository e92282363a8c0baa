package health

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Report is the health of the service: a verdict, a line per integration
// and what to do about it.
type Report struct {
	// Status is the worst status of the integrations (Healthy if none).
	Status Status `json:"status"`
	// Timestamp is when the run completed; it is encoded in UTC, RFC 3339
	// with milliseconds.
	Timestamp time.Time `json:"timestamp"`
	// ElapsedMs is how long the run took, in milliseconds.
	ElapsedMs int64 `json:"elapsedMs"`
	// Integrations holds one Result per check, in check order.
	Integrations []Result `json:"integrations"`
	// Summary counts the integrations by status.
	Summary Summary `json:"summary"`
	// Recommendations lists the distinct recommendations of the
	// integrations, in check order.
	Recommendations []string `json:"recommendations"`

	durations []time.Duration // per check, parallel to Integrations
}

// Summary counts the integrations of a Report by status.
type Summary struct {
	Healthy  int `json:"healthy"`
	Degraded int `json:"degraded"`
	Critical int `json:"critical"`
}

const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON encodes r with its timestamp in UTC with milliseconds, as in
// "2026-01-16T20:15:30.123Z".
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{
		Status:          r.Status,
		Timestamp:       r.Timestamp.UTC().Format(timestampLayout),
		ElapsedMs:       r.ElapsedMs,
		Integrations:    r.Integrations,
		Summary:         r.Summary,
		Recommendations: r.Recommendations,
	})
}

// reportJSON is the wire form of Report, fields in the documented order.
type reportJSON struct {
	Status          Status   `json:"status"`
	Timestamp       string   `json:"timestamp"`
	ElapsedMs       int64    `json:"elapsedMs"`
	Integrations    []Result `json:"integrations"`
	Summary         Summary  `json:"summary"`
	Recommendations []string `json:"recommendations"`
}

// withoutDetails returns a copy of r whose integrations carry no details.
func (r Report) withoutDetails() Report {
	results := make([]Result, len(r.Integrations))
	for i, res := range r.Integrations {
		res.Details = nil
		results[i] = res
	}
	r.Integrations = results
	return r
}

// httpCode maps a status to the response code: 503 for Critical, else 200.
func (s Status) httpCode() int {
	if s == Healthy || s == Degraded {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// snapshot is a cached report with its encodings, built lazily once each.
type snapshot struct {
	report  Report
	expires time.Time
	seq     uint64 // order of the report, from 1; 0 when not cached
	code    int
	enc     [formats]encoding
}

// format selects one encoding of a report.
type format int

const (
	formatJSON format = iota
	formatJSONNoDetails
	formatIETF
	formatIETFNoDetails
	formats
)

type encoding struct {
	once   sync.Once
	body   []byte
	length []string // Content-Length header value
}

func newSnapshot(r Report, expires time.Time) *snapshot {
	return &snapshot{report: r, expires: expires, code: r.Status.httpCode()}
}

// encoded returns the body for f, encoding it on first use.
func (s *snapshot) encoded(f format) *encoding {
	e := &s.enc[f]
	e.once.Do(func() {
		var v any
		switch f {
		case formatJSON:
			v = s.report
		case formatJSONNoDetails:
			v = s.report.withoutDetails()
		case formatIETF:
			v = ietfReport(s.report, true)
		default:
			v = ietfReport(s.report, false)
		}
		body, err := json.Marshal(v)
		if err != nil {
			// Details that cannot be encoded (a channel, a cycle) must not
			// break the endpoint: serve the report without them.
			if f >= formatIETF {
				body, _ = json.Marshal(ietfReport(s.report, false))
			} else {
				body, _ = json.Marshal(s.report.withoutDetails())
			}
		}
		e.body = append(body, '\n')
		e.length = []string{strconv.Itoa(len(e.body))}
	})
	return e
}
