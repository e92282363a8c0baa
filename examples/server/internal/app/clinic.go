package app

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/tenant"
)

var (
	errNotLinked = gcal.ErrNotLinked
	errRelink    = gcal.ErrRelinkRequired
)

// clinicView is a clinic's profile with defaults for what it lacks.
type clinicView struct {
	store.Clinic
	loc *time.Location
}

// clinic returns org's profile; a clinic without one is "the clinic", in
// UTC.
func (a *App) clinic(ctx context.Context, org string) clinicView {
	c, err := a.store.Clinic(ctx, org)
	if err != nil {
		c = store.Clinic{OrgID: org}
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil || c.TimeZone == "" {
		loc = time.UTC
	}
	return clinicView{Clinic: c, loc: loc}
}

func (c clinicView) name() string {
	if c.Name == "" {
		return "Your clinic"
	}
	return c.Name
}

// when says a time as a receptionist would, in the clinic's time zone.
func (c clinicView) when(t time.Time) string {
	return t.In(c.loc).Format("Monday 2 January at 15:04")
}

// me is GET /api/me: who the token says the caller is.
func (a *App) me(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{
		"userId": t.UserID, "orgId": t.OrgID, "email": t.Email, "role": t.Role, "source": t.Source.String(),
	})
}

// clinicRequest is the body of PUT /api/clinic.
type clinicRequest struct {
	Name     string `json:"name"`
	Phone    string `json:"phone"`
	TimeZone string `json:"timeZone"`
}

type clinicJSON struct {
	OrgID    string `json:"orgId"`
	Name     string `json:"name"`
	Phone    string `json:"phone,omitempty"`
	TimeZone string `json:"timeZone"`
	Calendar string `json:"calendar"`
}

// getClinic is GET /api/clinic.
func (a *App) getClinic(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	a.answerClinic(w, r, a.clinic(r.Context(), t.OrgID).Clinic)
}

// putClinic is PUT /api/clinic: the clinic's name, phone and time zone.
// Signing up is this first request: the tenant middleware has made the
// clinic's organisation. Once the calendar is linked too, the clinic gets
// its "System ready" text.
func (a *App) putClinic(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	var req clinicRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeBadRequest(w, r, err)
		return
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		writeBadRequest(w, r, invalid("name", `The field "name" must be 1 to 100 characters.`))
		return
	}
	phone, err := normalizePhone("phone", req.Phone)
	if err != nil {
		writeBadRequest(w, r, err)
		return
	}
	tz := req.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil || strings.EqualFold(tz, "local") {
		writeBadRequest(w, r, invalid("timeZone", `The field "timeZone" must be an IANA time zone such as Europe/London.`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.callTimeout())
	defer cancel()
	old := a.clinic(ctx, t.OrgID).Clinic
	c, err := a.store.SaveClinic(ctx, store.Clinic{OrgID: t.OrgID, Name: name, Phone: phone, TimeZone: tz, SMSFrom: old.SMSFrom})
	if err != nil {
		a.internal(w, r, "save clinic", err)
		return
	}
	a.systemReady(ctx, t.OrgID)
	a.answerClinic(w, r, c)
}

func (a *App) answerClinic(w http.ResponseWriter, r *http.Request, c store.Clinic) {
	out := clinicJSON{OrgID: c.OrgID, Name: c.Name, Phone: c.Phone, TimeZone: or(c.TimeZone, "UTC")}
	st, err := a.calendar.Status(r.Context(), c.OrgID)
	if err != nil {
		st = "unknown"
	}
	out.Calendar = string(st)
	writeJSON(w, http.StatusOK, out)
}

// systemReady texts a clinic "System ready" once its calendar is linked
// and its phone known, whichever comes last; once ever (its key).
func (a *App) systemReady(ctx context.Context, org string) {
	c := a.clinic(ctx, org)
	if c.Phone == "" {
		return
	}
	if st, err := a.calendar.Status(ctx, org); err != nil || st != gcal.Linked {
		return
	}
	a.queueText(ctx, store.Text{
		OrgID: org, Key: "onboarding/system-ready", Kind: "system-ready", To: c.Phone, From: a.sender(org, c.SMSFrom),
		Body: "System ready: " + c.name() + " can now take bookings by phone. " +
			"Appointments go to your Google Calendar and patients get a confirmation text.",
	})
}

// calendarLink is GET /api/calendar/link: a redirect to Google's consent
// page for the caller's clinic (the sandbox's, which approves at once).
func (a *App) calendarLink(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	consent, err := a.calendar.AuthURL(t.OrgID)
	if err != nil {
		a.internal(w, r, "calendar link", err)
		return
	}
	u, err := url.Parse(consent)
	if err != nil {
		a.internal(w, r, "calendar link", err)
		return
	}
	q := u.Query()
	switch {
	case a.cfg.Google.ClientID == "":
		q.Set("login_hint", sandbox.Account(t.OrgID))
	case t.Email != "":
		q.Set("login_hint", t.Email) // Google preselects the user's account
	}
	u.RawQuery = q.Encode()
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"url": u.String()})
		return
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// calendarStatus is GET /api/calendar/status.
func (a *App) calendarStatus(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	st, err := a.calendar.Status(r.Context(), t.OrgID)
	if err != nil {
		a.internal(w, r, "calendar status", err)
		return
	}
	out := map[string]string{"status": string(st)}
	switch st {
	case gcal.NotLinked:
		out["advice"] = "Link your Google Calendar: open /api/calendar/link while signed in."
	case gcal.RelinkRequired:
		out["advice"] = "Google no longer accepts this clinic's access (it was removed, or the password changed). " +
			"Link the calendar again: open /api/calendar/link while signed in."
		if l, err := a.links.Load(r.Context(), t.OrgID); err == nil && l.Reason != "" {
			out["reason"] = l.Reason
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// oauthCallback is GET /oauth/google/callback, where Google's consent page
// sends the browser back. The signed state names the clinic: no session
// is needed, and any instance can complete the link.
func (a *App) oauthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		a.linkPage(w, r, http.StatusBadRequest, "link_refused", "The calendar was not linked: Google said "+e+". You can try again from the app.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.callTimeout())
	defer cancel()
	link, err := a.calendar.Exchange(ctx, q.Get("state"), q.Get("code"))
	a.metrics.call("calendar", "exchange", err)
	switch {
	case errors.Is(err, gcal.ErrInvalidState), errors.Is(err, gcal.ErrStateExpired), errors.Is(err, gcal.ErrStateUsed):
		a.linkPage(w, r, http.StatusBadRequest, "link_expired", "This link request has expired or was already used. Start again from the app.")
		return
	case err != nil:
		a.log.Warn("calendar link failed", "request", infoOf(r.Context()).id, "err", err)
		a.linkPage(w, r, http.StatusBadGateway, "link_failed", "Google did not complete the link. Please try again from the app.")
		return
	}
	infoOf(r.Context()).org = link.OrgID
	a.log.Info("calendar linked", "org", link.OrgID)
	a.systemReady(ctx, link.OrgID)
	a.linkPage(w, r, http.StatusOK, "linked", "Your Google Calendar is linked. You can close this window.")
}

// linkPage answers the browser that comes back from Google: a page for a
// person, or JSON for a client that asks for it.
func (a *App) linkPage(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		if status >= 400 {
			writeError(w, r, status, code, message)
			return
		}
		writeJSON(w, status, map[string]string{"status": code, "message": message})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>Calendar link</title>` +
		`<p style="font:1.2em system-ui;margin:3em">` + html.EscapeString(message) + "</p>\n"))
}
