package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes wires the API. Authenticated routes go through the tenant
// middleware, which refuses a request before its body is read.
func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	auth := a.auth()
	authed := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, auth(h)) }

	authed("GET /api/me", a.me)
	authed("GET /api/clinic", a.getClinic)
	authed("PUT /api/clinic", a.putClinic)

	authed("POST /api/appointments", a.book)
	authed("GET /api/appointments", a.listAppointments)
	authed("DELETE /api/appointments/{key}", a.cancel)

	authed("POST /api/sms", a.sendSMS)
	authed("GET /api/sms/{key}", a.getSMS)
	mux.Handle("POST /api/sms/status", limitBody(a.sms.StatusHandler()))

	authed("GET /api/calendar/link", a.calendarLink)
	authed("GET /api/calendar/status", a.calendarStatus)
	mux.HandleFunc("GET /oauth/google/callback", a.oauthCallback)

	authed("POST /api/admin/breakers/{vendor}/{org}/reset", a.staffOnly(a.resetBreaker))
	if a.cfg.Dev && a.sandbox != nil {
		authed("POST /api/dev/faults", a.faults)
	}

	mux.Handle("GET /api/health/integrations", a.health)
	mux.Handle("GET /livez", a.health.Live())
	mux.Handle("GET /readyz", a.ready())
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/status", a.status)
	mux.HandleFunc("GET /{$}", a.statusPage)
	return a.serve(mux)
}

// limitBody bounds the body of a handler that reads it itself.
func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}
