package health

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// ServeHTTP runs the checks (or reuses the cached report) and writes the
// report: 200 for Healthy or Degraded, 503 for Critical, never cached by
// clients. A request that accepts application/health+json gets the IETF
// health-check draft format; others get the JSON of Report. Details are
// left out unless the WithDetails option admits the request, and always
// for ?verbose=0.
func (a *Aggregator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := a.snapshot(r.Context())
	if s == nil { // the request ended before the run
		s = newSnapshot(a.abandoned(context.Cause(r.Context())), time.Time{})
	}
	f := formatJSON
	ct := a.ctJSON
	if strings.Contains(r.Header.Get("Accept"), "application/health+json") {
		f, ct = formatIETF, a.ctHealthJSON
	}
	if !a.showDetails(r) {
		f++ // the variant without details
	}
	e := s.encoded(f)
	h := w.Header()
	h["Content-Type"] = ct
	h["Cache-Control"] = a.noStore
	h["Vary"] = a.vary
	h["Content-Length"] = e.length
	w.WriteHeader(s.code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
}

// showDetails reports whether r may see Result details.
func (a *Aggregator) showDetails(r *http.Request) bool {
	if r.URL != nil && quiet(r.URL.RawQuery) {
		return false
	}
	return a.cfg.showDetails != nil && a.cfg.showDetails(r)
}

// quiet reports whether the raw query asks for verbose=0 (or false),
// without allocating.
func quiet(query string) bool {
	for query != "" {
		var param string
		param, query, _ = strings.Cut(query, "&")
		if key, value, _ := strings.Cut(param, "="); key == "verbose" {
			return value == "0" || value == "false"
		}
	}
	return false
}
