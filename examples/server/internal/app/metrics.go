package app

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// metrics are the server's Prometheus series, in a registry of the App's
// own (several Apps may run in one process). Labels name vendors, routes,
// outcomes and classes: never a clinic, so that the number of series does
// not grow with the number of clinics.
type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec   // route, method, code
	requestDuration *prometheus.HistogramVec // route, method
	vendorRequests  *prometheus.CounterVec   // vendor, outcome, class: each HTTP attempt
	vendorCalls     *prometheus.CounterVec   // vendor, op, outcome, class: each call, retries included
	retries         *prometheus.CounterVec   // vendor, class
	transitions     *prometheus.CounterVec   // vendor, from, to
	openDuration    *prometheus.HistogramVec // vendor: from open to closed
	tokenRefreshes  *prometheus.CounterVec   // outcome
	smsStatus       *prometheus.CounterVec   // status
	smsDelivery     prometheus.Histogram     // time from acceptance to delivered
	tenantSources   *prometheus.CounterVec   // source: claim, directory, provisioned
	tenantLookups   *prometheus.HistogramVec // op, outcome: directory lookups and provisioning

	mu       sync.Mutex
	openedAt map[string]time.Time // vendor + "/" + key -> when its breaker opened
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), openedAt: make(map[string]time.Time)}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code."}, []string{"route", "method", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "resilience_http_request_duration_seconds",
		Help: "Time to serve an HTTP request, by route pattern and method.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)},
		[]string{"route", "method"})
	m.vendorRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_vendor_requests_total",
		Help: "HTTP requests sent to vendors (each attempt), by vendor, outcome and failure class."}, []string{"vendor", "outcome", "class"})
	m.vendorCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_vendor_calls_total",
		Help: "Vendor operations (retries included), by vendor, operation, outcome and class of the final failure."},
		[]string{"vendor", "op", "outcome", "class"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_vendor_retries_total",
		Help: "Retries of vendor calls, by vendor and class of the failure retried."}, []string{"vendor", "class"})
	m.transitions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_breaker_transitions_total",
		Help: "Circuit breaker state changes, by vendor, from and to."}, []string{"vendor", "from", "to"})
	m.openDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "resilience_breaker_open_seconds",
		Help: "Time from a breaker opening to closing again, by vendor.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)},
		[]string{"vendor"})
	m.tokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_gcal_token_refreshes_total",
		Help: "Google token refreshes, by outcome: refreshed, or refused (the clinic must link again)."}, []string{"outcome"})
	m.smsStatus = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_sms_status_total",
		Help: "Texts reaching a status (accepted by Twilio, or from its callbacks), by status."}, []string{"status"})
	m.smsDelivery = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "resilience_sms_time_to_delivery_seconds",
		Help: "Time from recording a text to Twilio reporting it delivered.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 12)})
	m.tenantSources = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resilience_tenant_requests_total",
		Help: "Authenticated requests by where their organisation came from: claim, directory (a stale token healed) or provisioned."},
		[]string{"source"})
	m.tenantLookups = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "resilience_tenant_lookup_seconds",
		Help:    "Latency of organisation lookups for tokens without one, by operation (directory, provision) and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}, []string{"op", "outcome"})
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.vendorRequests, m.vendorCalls, m.retries,
		m.transitions, m.openDuration, m.tokenRefreshes, m.smsStatus, m.smsDelivery, m.tenantSources, m.tenantLookups} {
		f(c)
	}
	return m
}

// watchOpenBreakers adds a gauge of vendor's open and half-open breakers,
// counted when scraped.
func (m *metrics) watchOpenBreakers(vendor string, reg *breaker.Registry[string]) {
	for _, state := range []breaker.State{breaker.Open, breaker.HalfOpen} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "resilience_breakers",
			Help:        "Circuit breakers not closed, by vendor and state.",
			ConstLabels: prometheus.Labels{"vendor": vendor, "state": state.String()},
		}, func() float64 {
			n := 0
			for _, s := range reg.Snapshot() {
				if s.State == state {
					n++
				}
			}
			return float64(n)
		}))
	}
}

// transition records a breaker's change of state.
func (m *metrics) transition(vendor string, t breaker.Transition) {
	m.transitions.WithLabelValues(vendor, t.From.String(), t.To.String()).Inc()
	id := vendor + "/" + t.Key
	m.mu.Lock()
	defer m.mu.Unlock()
	switch t.To {
	case breaker.Open:
		if _, ok := m.openedAt[id]; !ok {
			m.openedAt[id] = t.At
		}
	case breaker.Closed:
		if at, ok := m.openedAt[id]; ok {
			delete(m.openedAt, id)
			m.openDuration.WithLabelValues(vendor).Observe(t.At.Sub(at).Seconds())
		}
	}
}

// call records the outcome of a vendor operation.
func (m *metrics) call(vendor, op string, err error) {
	outcome, class := "ok", ""
	if err != nil {
		outcome, class = "error", safecall.ClassOf(err).String()
	}
	m.vendorCalls.WithLabelValues(vendor, op, outcome, class).Inc()
}

// onRetry counts the retries of vendor's calls.
func (m *metrics) onRetry(vendor string) safecall.Option {
	return safecall.WithOnRetry(func(e safecall.RetryEvent) {
		m.retries.WithLabelValues(vendor, e.Class.String()).Inc()
	})
}

// transport counts each HTTP request sent to vendor, by outcome and class.
func (m *metrics) transport(vendor string, inner http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := inner.RoundTrip(r)
		switch {
		case err != nil:
			m.vendorRequests.WithLabelValues(vendor, "error", safecall.Classify(err).String()).Inc()
		case resp.StatusCode >= 400:
			m.vendorRequests.WithLabelValues(vendor, strconv.Itoa(resp.StatusCode/100)+"xx",
				safecall.ClassifyStatus(resp.StatusCode).String()).Inc()
		default:
			m.vendorRequests.WithLabelValues(vendor, strconv.Itoa(resp.StatusCode/100)+"xx", "").Inc()
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// lookup times a tenant lookup.
func (m *metrics) lookup(op string, start time.Time, err error) {
	outcome := "found"
	switch {
	case errors.Is(err, errNoOrg):
		outcome = "no_org"
	case err != nil:
		outcome = "error"
	}
	m.tenantLookups.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
}
