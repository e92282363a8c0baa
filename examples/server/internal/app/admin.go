package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/tenant"
)

// resetBreaker is POST /api/admin/breakers/{vendor}/{org}/reset, for
// operators: it closes a clinic's breaker (on every instance, through
// Redis) once the vendor works again, and audits who did it.
func (a *App) resetBreaker(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	vendor, org := r.PathValue("vendor"), r.PathValue("org")
	reg := a.Breakers(vendor)
	if reg == nil {
		writeError(w, r, http.StatusNotFound, "not_found", `There is no such vendor: use "calendar" or "sms".`)
		return
	}
	if org == "" || len(org) > 255 {
		writeError(w, r, http.StatusNotFound, "not_found", "There is no such clinic.")
		return
	}
	b := reg.Get(org)
	before := b.Snapshot()
	b.Reset()
	if err := a.store.Audit(r.Context(), store.AdminAction{Actor: t.UserID, Action: "breaker.reset", Vendor: vendor, OrgID: org,
		Detail: "was " + before.State.String()}); err != nil {
		a.internal(w, r, "audit breaker reset", err)
		return
	}
	a.log.Warn("breaker reset by an operator", "vendor", vendor, "org", org, "actor", t.UserID, "was", before.State.String())
	writeJSON(w, http.StatusOK, map[string]string{"vendor": vendor, "org": org, "was": before.State.String(), "state": b.State().String()})
}

// faultRequest is the body of POST /api/dev/faults.
type faultRequest struct {
	Vendor string `json:"vendor"`
	Kind   string `json:"kind"`
	Times  int    `json:"times"`
	// DelaySeconds is the delay of "slow".
	DelaySeconds int `json:"delaySeconds"`
	// Org is the clinic, for operators; others script their own.
	Org string `json:"org"`
}

// faults is POST /api/dev/faults, in development mode only: it scripts a
// vendor's failures for one clinic in the sandbox: "outage", "rate-limit",
// "slow" or "clear"; for the calendar also "revoke" (the clinic removes
// the app's access at Google) and "expire" (every access token expires).
func (a *App) faults(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	var req faultRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeBadRequest(w, r, err)
		return
	}
	org := t.OrgID
	if req.Org != "" && req.Org != org {
		if t.Role != a.cfg.StaffRole {
			writeError(w, r, http.StatusForbidden, "forbidden", "Only operators can script another clinic's faults.")
			return
		}
		org = req.Org
	}
	if req.Times < 0 || req.Times > 1_000_000 || req.DelaySeconds < 0 || req.DelaySeconds > 300 {
		writeBadRequest(w, r, invalid("times", `"times" must be 0 (until cleared) to 1000000, "delaySeconds" 0 to 300.`))
		return
	}
	vendor := sandbox.Vendor(req.Vendor)
	if vendor != sandbox.Calendar && vendor != sandbox.SMS {
		writeBadRequest(w, r, invalid("vendor", `"vendor" must be "calendar" or "sms".`))
		return
	}
	var err error
	switch {
	case vendor == sandbox.Calendar && req.Kind == "revoke":
		err = a.revoke(r.Context(), org)
	case vendor == sandbox.Calendar && req.Kind == "expire":
		a.sandbox.Calendar.ExpireAccessTokens()
	default:
		err = a.sandbox.Script(org, sandbox.Fault{Vendor: vendor, Kind: sandbox.Kind(req.Kind), Times: req.Times,
			Delay: time.Duration(req.DelaySeconds) * time.Second})
	}
	switch {
	case errors.Is(err, sandbox.ErrUnknownFault):
		writeBadRequest(w, r, invalid("kind", `"kind" must be "outage", "rate-limit", "slow" or "clear" (calendar: also "revoke", "expire").`))
		return
	case errors.Is(err, gcal.ErrNotLinked):
		writeError(w, r, http.StatusConflict, "calendar_not_linked", "That clinic has not linked its calendar.")
		return
	case err != nil:
		a.internal(w, r, "script fault", err)
		return
	}
	a.log.Warn("sandbox fault scripted", "org", org, "vendor", req.Vendor, "kind", req.Kind, "times", req.Times)
	writeJSON(w, http.StatusAccepted, map[string]any{"org": org, "vendor": req.Vendor, "kind": req.Kind, "times": req.Times})
}

// revoke removes a clinic's grant at the sandbox's Google, as a user who
// removes the app's access does: the next refresh is refused
// (invalid_grant).
func (a *App) revoke(ctx context.Context, org string) error {
	l, err := a.links.Load(ctx, org)
	if err != nil {
		return err
	}
	if l.Token == nil || !a.sandbox.Calendar.Revoke(l.Token.RefreshToken) {
		return fmt.Errorf("%w: no grant to revoke", gcal.ErrNotLinked)
	}
	return nil
}
