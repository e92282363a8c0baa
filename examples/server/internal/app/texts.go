package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/twilioguard"
)

// queueText records t in the outbox (once per key) and, unless it was
// sent before, sends it now; a text that cannot be sent yet stays in the
// outbox, which retries it. It returns the text's state for the API.
func (a *App) queueText(ctx context.Context, t store.Text) textJSON {
	got, _, err := a.store.EnqueueText(ctx, t)
	if err != nil {
		a.log.Error("outbox: enqueue failed", "org", t.OrgID, "key", t.Key, "err", err)
		return textJSON{Key: t.Key, Status: "pending", To: twilioguard.Mask(t.To)}
	}
	if got.State == store.TextPending {
		a.sendText(ctx, got)
	}
	out, err := a.textState(ctx, t.OrgID, t.Key)
	if err != nil {
		return textJSON{Key: t.Key, Status: "pending", To: twilioguard.Mask(t.To)}
	}
	return out
}

// sendText sends a text of the outbox through the guard and records the
// outcome: sent, failed for good, or pending until its next attempt.
func (a *App) sendText(ctx context.Context, t store.Text) {
	_, err := a.sms.Send(ctx, twilioguard.Message{OrgID: t.OrgID, Key: t.Key, To: t.To, From: t.From, Body: t.Body})
	a.metrics.call("sms", "send", err)
	attempts := t.Attempts + 1
	state, next := store.TextSent, time.Time{}
	if err != nil {
		if safecall.ClassOf(err) == safecall.Permanent {
			state = store.TextFailed
		} else {
			state, next = store.TextPending, a.now().Add(outboxBackoff(attempts, err, a.cfg.OutboxInterval))
		}
		a.log.Warn("text not sent", "org", t.OrgID, "key", t.Key, "to", twilioguard.Mask(t.To),
			"class", safecall.ClassOf(err).String(), "attempt", attempts, "err", err)
	}
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx) // record what happened even if the caller left
	}
	if err := a.store.UpdateText(ctx, t.OrgID, t.Key, state, attempts, next); err != nil {
		a.log.Error("outbox: update failed", "org", t.OrgID, "key", t.Key, "err", err)
	}
}

// outboxBackoff is the wait before the next attempt of a text: what the
// vendor or the breaker asked, or the outbox's interval doubling with each
// attempt, up to 10 minutes.
func outboxBackoff(attempts int, err error, interval time.Duration) time.Duration {
	var se *safecall.Error
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return min(se.RetryAfter, 10*time.Minute)
	}
	return min(interval<<min(attempts-1, 10), 10*time.Minute)
}

// textState returns a text's state: the delivery's status once Twilio has
// accepted it.
func (a *App) textState(ctx context.Context, org, key string) (textJSON, error) {
	t, err := a.store.Text(ctx, org, key)
	if err != nil {
		return textJSON{}, err
	}
	out := textJSON{Key: key, Status: t.State, To: twilioguard.Mask(t.To)}
	if t.State == store.TextPending {
		return out, nil
	}
	d, err := a.sms.Delivery(ctx, org, key)
	if err == nil {
		out.Status, out.ErrorCode = string(d.Status), d.ErrorCode
	}
	return out, nil
}

// runOutbox retries, every OutboxInterval until ctx ends, the texts that
// were not accepted yet and the cancellations the calendar has not
// confirmed: a vendor's outage delays them, it does not lose them.
func (a *App) runOutbox(ctx context.Context) {
	tick := time.NewTicker(a.cfg.OutboxInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.sendDueTexts(ctx)
		a.finishCancellations(ctx)
	}
}

// sendDueTexts sends the texts whose next attempt is due, a few at a time.
func (a *App) sendDueTexts(ctx context.Context) {
	due, err := a.store.DueTexts(ctx, a.now(), 50)
	eachDue(ctx, a, "outbox", due, err, a.sendText)
}

// eachDue runs do on each item the outbox loop read as due, each under
// the call timeout, until ctx ends. A failed read (err) is logged under
// what, unless ctx ended.
func eachDue[T any](ctx context.Context, a *App, what string, due []T, err error, do func(context.Context, T)) {
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error(what+": read failed", "err", err)
		}
		return
	}
	for _, item := range due {
		if ctx.Err() != nil {
			return
		}
		ictx, cancel := context.WithTimeout(ctx, a.callTimeout())
		do(ictx, item)
		cancel()
	}
}

// smsRequest is the body of POST /api/sms.
type smsRequest struct {
	To   string `json:"to"`
	Body string `json:"body"`
}

// sendSMS is POST /api/sms: a text on its own, once per Idempotency-Key.
func (a *App) sendSMS(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req smsRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeBadRequest(w, r, err)
		return
	}
	to, err := normalizePhone("to", req.To)
	if err != nil {
		writeBadRequest(w, r, err)
		return
	}
	body := strings.TrimSpace(req.Body)
	if body == "" || utf8.RuneCountInString(body) > twilioguard.MaxBody {
		writeBadRequest(w, r, invalid("body", `The field "body" must hold 1 to 1,600 characters.`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.callTimeout())
	defer cancel()
	clinic := a.clinic(ctx, t.OrgID)
	want := store.Text{OrgID: t.OrgID, Key: smsKey(key), Kind: "sms", To: to, From: a.sender(t.OrgID, clinic.SMSFrom),
		Body: body, Fingerprint: fingerprint("sms", to, body)}
	got, created, err := a.store.EnqueueText(ctx, want)
	if err != nil {
		a.internal(w, r, "enqueue text", err)
		return
	}
	if got.Fingerprint != want.Fingerprint {
		writeError(w, r, http.StatusUnprocessableEntity, "idempotency_key_reused",
			"This Idempotency-Key was already used for a different text. Use a new key for a new text.")
		return
	}
	if got.State == store.TextPending {
		a.sendText(ctx, got)
	}
	out, err := a.textState(ctx, t.OrgID, want.Key)
	if err != nil {
		a.internal(w, r, "read text", err)
		return
	}
	out.Key = key
	status := http.StatusOK
	if created {
		status = http.StatusAccepted
	}
	writeJSON(w, status, out)
}

func smsKey(key string) string { return "sms/" + key }

// getSMS is GET /api/sms/{key}: the delivery of a text sent with POST
// /api/sms.
func (a *App) getSMS(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	key := r.PathValue("key")
	out, err := a.textState(r.Context(), t.OrgID, smsKey(key))
	if errors.Is(err, store.ErrNotFound) || !validKey(key) {
		writeError(w, r, http.StatusNotFound, "not_found", "There is no text with that key.")
		return
	}
	if err != nil {
		a.internal(w, r, "read text", err)
		return
	}
	out.Key = key
	writeJSON(w, http.StatusOK, out)
}

// vendorFailed answers a vendor call that failed for good, with the
// sentence for the caller.
func (a *App) vendorFailed(w http.ResponseWriter, r *http.Request, vendor, op string, err error) {
	class := safecall.ClassOf(err)
	e := apiError{Code: "vendor_unavailable", Message: safecall.UserMessage(err)}
	status := http.StatusServiceUnavailable
	var se *safecall.Error
	switch {
	case errors.Is(err, errNotLinked):
		status, e.Code = http.StatusConflict, "calendar_not_linked"
	case errors.Is(err, errRelink):
		status, e.Code = http.StatusConflict, "calendar_relink_required"
	case class == safecall.Permanent:
		status, e.Code = http.StatusBadGateway, "vendor_refused"
	case class == safecall.Canceled:
		status, e.Code = 499, "canceled"
	default:
		wait := 5 * time.Second
		if errors.As(err, &se) && se.RetryAfter > 0 {
			wait = se.RetryAfter
		}
		e.RetryAfterSeconds = retryAfterSeconds(wait)
	}
	if e.Message == "" {
		e.Message = "That didn't work just now. Please try again in a moment."
	}
	attempts := 0
	if se != nil || errors.As(err, &se) {
		attempts = se.Attempts
	}
	a.log.Warn(vendor+" "+op+" failed", "request", infoOf(r.Context()).id, "org", infoOf(r.Context()).org,
		"class", class.String(), "attempts", attempts, "status", status, "err", err)
	writeAPIError(w, r, status, e)
}

// internal answers 503 for a failure of the server's own database.
func (a *App) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.Error(what+" failed", "request", infoOf(r.Context()).id, "org", infoOf(r.Context()).org, "err", err)
	writeAPIError(w, r, http.StatusServiceUnavailable, apiError{Code: "unavailable", RetryAfterSeconds: 5,
		Message: "Something went wrong on our side. Please try again in a moment."})
}
