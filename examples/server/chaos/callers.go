package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// role is what a clinic meets during the faults.
type role int

const (
	calm   role = iota // nothing
	flaky              // random faults of both vendors
	token              // expired access tokens, token endpoint 5xx, a revoked grant
	outage             // random SMS faults and an outage of its number
)

func (r role) String() string { return [...]string{"calm", "flaky", "token", "sms-outage"}[r] }

// clinic is a clinic of the run: its user, organisation and what its
// callers asked for, so that what failed can be asked again.
type clinic struct {
	i     int
	role  role
	user  string
	token string
	org   string
	phone string
	slots atomic.Int64

	relinking atomic.Bool
	relinks   atomic.Int64

	mu       sync.Mutex
	bookings map[string]string // Idempotency-Key: body
	texts    map[string]string // Idempotency-Key of POST /api/sms: body
}

func (c *clinic) remember(m map[string]string, key, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[key] = body
}

func (c *clinic) recall(m map[string]string, key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[key]
}

// slotStart is the start of the clinic's n-th half hour from tomorrow.
func slotStart(day time.Time, n int64) string {
	return day.Add(time.Duration(n) * 30 * time.Minute).Format(time.RFC3339)
}

// answer is the server's answer to a request.
type answer struct {
	status int
	err    error // no answer
	body
}

// body is what the run reads of an answer's JSON.
type body struct {
	Code              string `json:"code"`
	Message           string `json:"message"`
	RetryAfterSeconds int    `json:"retryAfterSeconds"`
	EventID           string `json:"eventId"`
}

func (a answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// maxRestartWait bounds how long a request waits for a restarting server.
const maxRestartWait = 60 * time.Second

// do sends one request for clinic c (with its token; with key as its
// Idempotency-Key if not "") and records it. A request that finds no
// server because it is restarting is sent again, as a client would; each
// try is recorded.
func (r *harness) do(ctx context.Context, c *clinic, method, path, key, body string) answer {
	first := time.Now()
	for {
		start := time.Now()
		a := r.send(ctx, c, method, path, key, body)
		end := time.Now()
		if ctx.Err() != nil {
			return answer{err: ctx.Err()}
		}
		s := sample{calm: c.role == calm, phase: r.phaseAt(start), start: start, took: end.Sub(start)}
		if a.err != nil {
			if r.records.restarting(start, end) && time.Since(first) < maxRestartWait {
				s.outcome = restarting
				r.records.add(s)
				sleep(ctx, 20*time.Millisecond)
				continue
			}
			s.outcome = unanswered
			r.records.add(s)
			r.records.noteNoAnswer(fmt.Sprintf("%s %s (%s clinic): %v", method, path, c.role, a.err))
			return a
		}
		s.outcome = classify(a.status)
		r.records.add(s)
		if s.calm && s.outcome.failure() {
			r.records.noteCalmFailure(fmt.Sprintf("%s %s key %q (%s clinic, %s): %d %s %q", method, path, key, c.role, s.phase, a.status, a.Code, a.Message))
		}
		if a.status >= 400 {
			if why := uncalm(a.Message); why != "" {
				r.records.noteUncalm(fmt.Sprintf("%d %s: %q %s", a.status, a.Code, a.Message, why))
			}
		}
		return a
	}
}

// send makes one HTTP request and reads its answer.
func (r *harness) send(ctx context.Context, c *clinic, method, path, key, body string) answer {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: resp.StatusCode}
	if err := json.Unmarshal(b, &a.body); err != nil && resp.StatusCode >= 400 {
		a.Message = "(not a JSON error: " + strings.TrimSpace(string(b[:min(len(b), 80)])) + ")"
	}
	return a
}

// caller is one caller of a clinic: a phone line on which calls follow
// each other.
type caller struct {
	r   *harness
	c   *clinic
	id  int
	rng *rand.Rand
	n   int
}

func (w *caller) chance(p float64) bool { return w.rng.Float64() < p }

// work makes calls until stop is closed.
func (w *caller) work(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		w.call(ctx)
		sleep(ctx, time.Duration(w.rng.IntN(30))*time.Millisecond)
	}
}

// call is one phone call: a booking, then perhaps a text, a look at the
// list, a cancellation and a new booking in the freed slot.
func (w *caller) call(ctx context.Context) {
	w.n++
	key := fmt.Sprintf("%s-c%d-%d", w.c.role, w.id, w.n)
	start := slotStart(w.r.firstDay, w.c.slots.Add(1)-1)
	phone := w.r.newPhone()
	if !w.book(ctx, key, w.bookingBody(start, key, phone)) {
		return
	}
	if w.chance(0.3) {
		w.text(ctx, key, phone)
		if w.chance(0.3) {
			w.r.do(ctx, w.c, "GET", "/api/sms/sms-"+key, "", "")
		}
	}
	if w.chance(0.1) {
		w.r.do(ctx, w.c, "GET", "/api/appointments", "", "")
	}
	if w.chance(0.25) && w.cancel(ctx, key) && w.chance(0.5) {
		again := key + "-rebook"
		w.book(ctx, again, w.bookingBody(start, again, w.r.newPhone()))
	}
}

func (w *caller) bookingBody(start, key, phone string) string {
	return fmt.Sprintf(`{"start":%q,"minutes":30,"patient":"Patient %s","phone":%q}`, start, key, phone)
}

// book books under key, sometimes as two or three concurrent duplicates,
// and tries again (same key, same body) after an unavailable answer, at
// most twice; sometimes it sends the request once more after success, as
// a client whose answer was lost does. It reports whether it booked.
func (w *caller) book(ctx context.Context, key, body string) bool {
	w.c.remember(w.c.bookings, key, body)
	copies := 1
	if w.chance(0.2) {
		copies = 2 + w.rng.IntN(2)
	}
	for try := 0; try < 3; try++ {
		a := w.parallel(ctx, copies, func() answer { return w.r.do(ctx, w.c, "POST", "/api/appointments", key, body) })
		switch {
		case a.ok():
			if w.chance(0.15) {
				w.r.do(ctx, w.c, "POST", "/api/appointments", key, body)
			}
			return true
		case a.Code == "calendar_relink_required":
			w.r.relinkLater(ctx, w.c)
			return false
		case a.status != http.StatusServiceUnavailable:
			return false
		}
		sleep(ctx, min(time.Duration(a.RetryAfterSeconds)*time.Second, 300*time.Millisecond))
		copies = 1
	}
	return false
}

// text sends the patient a text of its own (POST /api/sms), sometimes
// twice at once.
func (w *caller) text(ctx context.Context, key, phone string) {
	body := fmt.Sprintf(`{"to":%q,"body":"Please bring your insurance card. Ref %s."}`, phone, key)
	w.c.remember(w.c.texts, "sms-"+key, body)
	copies := 1
	if w.chance(0.2) {
		copies = 2
	}
	w.parallel(ctx, copies, func() answer { return w.r.do(ctx, w.c, "POST", "/api/sms", "sms-"+key, body) })
}

// cancel cancels the booking of key, sometimes twice at once, trying
// again after an unavailable answer; it reports whether it is cancelled.
func (w *caller) cancel(ctx context.Context, key string) bool {
	copies := 1
	if w.chance(0.2) {
		copies = 2
	}
	for try := 0; try < 3; try++ {
		a := w.parallel(ctx, copies, func() answer { return w.r.do(ctx, w.c, "DELETE", "/api/appointments/"+key, "", "") })
		if a.ok() {
			return true
		}
		if a.status != http.StatusServiceUnavailable {
			return false
		}
		sleep(ctx, min(time.Duration(a.RetryAfterSeconds)*time.Second, 300*time.Millisecond))
	}
	return false
}

// parallel runs fn n times at once and returns a successful answer if
// there is one, else the first.
func (w *caller) parallel(ctx context.Context, n int, fn func() answer) answer {
	if n == 1 {
		return fn()
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = fn() })
	}
	wg.Wait()
	for _, a := range answers {
		if a.ok() {
			return a
		}
	}
	return answers[0]
}

// relinkLater has the clinic's staff link its calendar again, once, a
// little after a caller was told it must be.
func (r *harness) relinkLater(ctx context.Context, c *clinic) {
	if !c.relinking.CompareAndSwap(false, true) {
		return
	}
	r.background.Go(func() {
		defer c.relinking.Store(false)
		sleep(ctx, 500*time.Millisecond)
		if err := r.link(ctx, c); err == nil {
			c.relinks.Add(1)
		}
	})
}

// link links the clinic's calendar through the sandbox's consent page, as
// a browser does.
func (r *harness) link(ctx context.Context, c *clinic) error {
	for try := 0; ; try++ {
		a := r.do(ctx, c, "GET", "/api/calendar/link", "", "")
		if a.ok() || try == 20 || ctx.Err() != nil {
			if a.err == nil && !a.ok() {
				return fmt.Errorf("link %s clinic: %d %s", c.role, a.status, a.Message)
			}
			return a.err
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

func (r *harness) newPhone() string {
	return fmt.Sprintf("+1666%07d", r.phones.Add(1))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
