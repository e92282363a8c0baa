package twilioguard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
)

// maxCallbackBody bounds the body of a status callback.
const maxCallbackBody = 64 << 10

// maxStatusTries bounds the compare-and-swap retries of one callback.
const maxStatusTries = 5

// StatusHandler returns the handler of Twilio's status callbacks, to be
// served at Config.StatusCallback. It answers 403 to a request whose
// X-Twilio-Signature is missing or wrong (checked against
// Config.StatusCallback with the request's query, not against the
// request's Host, which a proxy rewrites), 405 to anything but POST and
// 204 to every correctly signed callback, including duplicates, late ones
// and those of SIDs it does not know, which change nothing. A status is
// applied only if it comes later in Twilio's order than the stored one
// (a late "sent" never overwrites "delivered"); its ErrorCode is stored.
// It answers 500 only when the store fails.
func (g *Guard) StatusHandler() http.Handler {
	return http.HandlerFunc(g.serveStatus)
}

func (g *Guard) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	form, err := g.VerifyCallback(r)
	switch {
	case errors.Is(err, ErrBadSignature):
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	case err != nil:
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := g.applyStatus(r.Context(), form); err != nil {
		if g.log != nil {
			g.log.LogAttrs(r.Context(), slog.LevelError, "twilioguard: status callback not stored",
				slog.String("sid", form.Get("MessageSid")), slog.String("error", err.Error()))
		}
		http.Error(w, "store failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// VerifyCallback reads the form of a request from Twilio to
// Config.StatusCallback and checks its X-Twilio-Signature against that URL
// (with the request's query). It returns ErrBadSignature when the
// signature is missing or wrong, or when the Guard has no StatusCallback.
func (g *Guard) VerifyCallback(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallbackBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxCallbackBody {
		return nil, errors.New("twilioguard: callback body too large")
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || g.cfg.StatusCallback == "" {
		return nil, ErrBadSignature
	}
	u, err := url.Parse(g.cfg.StatusCallback)
	if err != nil {
		return nil, ErrBadSignature
	}
	if r.URL.RawQuery != "" {
		u.RawQuery = r.URL.RawQuery
	}
	if !g.validator.ValidateBody(u.String(), body, sig) {
		return nil, ErrBadSignature
	}
	return url.ParseQuery(string(body))
}

// applyStatus stores the status a callback reports, if it moves the
// delivery forward.
func (g *Guard) applyStatus(ctx context.Context, form url.Values) error {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	raw := form.Get("MessageStatus")
	if raw == "" {
		raw = form.Get("SmsStatus")
	}
	st := twilioStatus(raw) // "" for a status of no rank
	if sid == "" || (form.Get("AccountSid") != "" && form.Get("AccountSid") != g.cfg.AccountSID) {
		return nil
	}
	code, _ := strconv.Atoi(form.Get("ErrorCode"))
	for range maxStatusTries {
		d, err := g.store.BySID(ctx, sid)
		if errors.Is(err, ErrNotFound) {
			return nil // not ours, or not recorded yet
		}
		if err != nil {
			return err
		}
		if st.rank() <= d.Status.rank() {
			return nil // a duplicate, a late one, or a status of no rank
		}
		next := d
		next.Status, next.UpdatedAt = st, g.now()
		if code != 0 {
			next.ErrorCode = code
		}
		if _, err := g.store.Update(ctx, next); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		g.audit(ctx, AuditEntry{
			OrgID: d.OrgID, Key: d.Key, Event: EventStatus, To: Mask(d.To),
			Code: code, SID: sid, Status: st,
		})
		if st.Final() {
			g.recent.add(g.now(), st.failed())
		}
		return nil
	}
	return ErrConflict
}
