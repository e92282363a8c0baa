package app

import (
	"context"
	_ "embed"
	"net/http"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/twilioguard"
)

// statusHTML is the status page: one file, no build step, no external
// resources; it polls /api/status.
//
//go:embed status.html
var statusHTML []byte

// statusPage is GET /.
func (a *App) statusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(statusHTML)
}

type statusJSON struct {
	Status          health.Status      `json:"status"`
	Timestamp       time.Time          `json:"timestamp"`
	Viewer          string             `json:"viewer"`
	Integrations    []integrationJSON  `json:"integrations"`
	Recommendations []string           `json:"recommendations"`
	Breakers        []breakerCountJSON `json:"breakers"`
	OpenBreakers    []openBreakerJSON  `json:"openBreakers,omitempty"`
	Deliveries      []deliveryJSON     `json:"deliveries,omitempty"`
}

type integrationJSON struct {
	Name           string         `json:"name"`
	Status         health.Status  `json:"status"`
	Message        string         `json:"message"`
	Recommendation string         `json:"recommendation,omitempty"`
	Details        map[string]any `json:"details,omitempty"`
}

type breakerCountJSON struct {
	Vendor   string `json:"vendor"`
	Total    int    `json:"total"`
	Open     int    `json:"open"`
	HalfOpen int    `json:"halfOpen"`
}

type openBreakerJSON struct {
	Vendor            string `json:"vendor"`
	Org               string `json:"org"`
	State             string `json:"state"`
	RetryAfterSeconds int    `json:"retryAfterSeconds"`
}

type deliveryJSON struct {
	Org    string    `json:"org"`
	Kind   string    `json:"kind"`
	To     string    `json:"to"`
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// status is GET /api/status, what the status page shows: the health
// report with its advice and the breakers by vendor for everyone; open
// breakers by clinic and the latest texts for operators.
func (a *App) status(w http.ResponseWriter, r *http.Request) {
	staff := a.isStaff(r)
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	rep := a.health.Run(ctx)
	out := statusJSON{Status: rep.Status, Timestamp: rep.Timestamp, Viewer: "public", Recommendations: rep.Recommendations}
	if staff {
		out.Viewer = "staff"
	}
	for _, i := range rep.Integrations {
		j := integrationJSON{Name: i.Name, Status: i.Status, Message: i.Message, Recommendation: i.Recommendation}
		if staff {
			j.Details = i.Details
		}
		out.Integrations = append(out.Integrations, j)
	}
	for _, v := range []string{"calendar", "sms"} {
		c := breakerCountJSON{Vendor: v}
		for _, s := range a.Breakers(v).Snapshot() {
			c.Total++
			switch s.State {
			case breaker.Open:
				c.Open++
			case breaker.HalfOpen:
				c.HalfOpen++
			}
			if staff && s.State != breaker.Closed {
				out.OpenBreakers = append(out.OpenBreakers, openBreakerJSON{Vendor: v, Org: s.Key, State: s.State.String(),
					RetryAfterSeconds: int((s.RetryAfter + time.Second - 1) / time.Second)})
			}
		}
		out.Breakers = append(out.Breakers, c)
	}
	if staff {
		out.Deliveries = a.recentDeliveries(ctx)
	}
	writeJSON(w, http.StatusOK, out)
}

// recentDeliveries lists the latest texts of every clinic, with masked
// numbers.
func (a *App) recentDeliveries(ctx context.Context) []deliveryJSON {
	texts, err := a.store.RecentTexts(ctx, 15)
	if err != nil {
		a.log.Error("status: recent texts", "err", err)
		return nil
	}
	out := make([]deliveryJSON, 0, len(texts))
	for _, t := range texts {
		d := deliveryJSON{Org: t.OrgID, Kind: t.Kind, To: twilioguard.Mask(t.To), Status: t.State, At: t.UpdatedAt}
		if t.State == "sent" {
			if del, err := a.sms.Delivery(ctx, t.OrgID, t.Key); err == nil {
				d.Status, d.At = string(del.Status), del.UpdatedAt
			}
		}
		out = append(out, d)
	}
	return out
}
