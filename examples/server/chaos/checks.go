package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
	"google.golang.org/api/calendar/v3"
)

// check is one line of the report's checks.
type check struct {
	name     string
	observed string
	bound    string
	ok       bool
}

// latencyBound is how much the p99 latency of the clinics without faults
// may grow from the baseline to the storm: their vendors answer as fast as
// ever, but they share two cores, the database and the server with the
// clinics whose calls are being retried, and with the carrier's callbacks.
func latencyBound(base time.Duration) time.Duration { return 2*base + 100*time.Millisecond }

// heapBound bounds the live heap of a run that made n records (see
// report.work): the server, whose memory must not grow with the work, and
// the fakes and the harness, which keep every record on purpose. A bound
// per record, not per second, holds on a machine of any speed.
func heapBound(n int) uint64 { return heapBase + uint64(n)*heapPerRecord }

const (
	heapBase      = 64 << 20
	heapPerRecord = 2 << 10
)

// keyInDescription finds the Idempotency-Key in an event's description,
// which the server writes as "(key K)".
var keyInDescription = regexp.MustCompile(`\(key ([^)]+)\)`)

// check reads the fakes' records and the database and fills rep.
func (r *harness) check(ctx context.Context, rep *report) error {
	rep.injected, rep.injectErrors = r.injected, r.injectErrors
	rep.counts = r.records.counts()
	rep.carrier = r.carrier.snapshot()
	for _, c := range r.clinics {
		rep.relinks += int(c.relinks.Load())
	}
	for _, q := range r.sb.Calendar.Requests() {
		if q.Faulted {
			rep.faultedCalendar++
		}
	}
	for _, q := range r.sb.SMS.Requests() {
		if q.Fault {
			rep.faultedSMS++
		}
	}

	cal, err := r.checkCalendar(ctx)
	if err != nil {
		return err
	}
	sms, err := r.checkTexts(ctx)
	if err != nil {
		return err
	}
	tokens, err := r.checkTokens(ctx)
	if err != nil {
		return err
	}
	rep.events, rep.messages = cal.events, sms.messages
	rep.pendingTexts = sms.pending
	rep.examples = append(append(rep.examples, cal.examples...), sms.examples...)

	add := func(name, observed, bound string, ok bool) {
		rep.checks = append(rep.checks, check{name, observed, bound, ok})
	}
	zero := func(name string, n int, of string) {
		add(name, fmt.Sprintf("%d %s", n, of), "0", n == 0)
	}
	zero("double bookings: events per key > 1, live events per slot > 1", cal.perKey+cal.perSlot,
		fmt.Sprintf("(of %d events)", cal.events))
	zero("duplicate texts: messages per key > 1", sms.duplicates, fmt.Sprintf("(of %d messages)", sms.messages))
	lost := cal.orphans + sms.unaudited + sms.unrecorded + tokens.unaudited
	zero("lost records: event without its appointment, create or message without its audit row, token grant without its audit row",
		lost, fmt.Sprintf("(%d events, %d creates, %d messages, %d grants)", cal.events, sms.creates, sms.messages, tokens.grants))
	zero("calendar and database disagree: booked without a live event, or the reverse", cal.disagree,
		fmt.Sprintf("(%d booked)", cal.booked))
	zero("messages not in the status the carrier reported last, statuses moved backwards, callbacks left unanswered",
		sms.wrongStatus+sms.backwards+sms.callbacksPending, fmt.Sprintf("(%d, %d, %d; %d callbacks)",
			sms.wrongStatus, sms.backwards, sms.callbacksPending, rep.carrier.posted))

	counts := rep.counts
	answered := 0
	for _, m := range counts {
		for o, n := range m {
			if outcome(o) != restarting {
				answered += n
			}
		}
	}
	unanswered := counts[true][unanswered] + counts[false][unanswered] + counts[true][serverError] + counts[false][serverError]
	zero("requests without an answer, or answered 5xx other than 502/503", unanswered, fmt.Sprintf("(of %d)", answered))
	zero("error answers that are not a calm sentence", r.records.uncalmN, "")
	calmTotal := 0
	for _, n := range counts[true] {
		calmTotal += n
	}
	zero("clinics without faults: failed requests", r.records.calmFailures(), fmt.Sprintf("(of %d)", calmTotal))

	b50, b99, bn := r.records.latency(baseline)
	s50, s99, sn := r.records.latency(storm)
	rep.latency = [2]latency{{b50, b99, bn}, {s50, s99, sn}}
	bound := latencyBound(b99)
	add("clinics without faults: p99 latency, baseline -> faults",
		fmt.Sprintf("%v -> %v", b99.Round(time.Millisecond), s99.Round(time.Millisecond)),
		"<= "+bound.Round(time.Millisecond).String()+" (2 x baseline + 100ms)", bn > 0 && sn > 0 && s99 <= bound)
	zero("fault schedule: injections that failed", len(r.injectErrors), "")
	rep.examples = append(rep.examples, r.injectErrors...)
	r.records.mu.Lock()
	rep.examples = append(append(append(rep.examples, r.records.uncalm...), r.records.noAnswer...), r.records.calmFailure...)
	r.records.mu.Unlock()
	return nil
}

// calendarFindings are what the fake calendar and the appointments say.
type calendarFindings struct {
	events, booked  int
	perKey, perSlot int // events beyond one per key, live events beyond one per slot
	orphans         int // events whose appointment the database does not have
	disagree        int
	examples        []string
}

// disagreement describes an appointment on which the calendar and the
// database disagree, with the calendar requests that named its event.
func (r *harness) disagreement(c *clinic, a store.Appointment, e *calendar.Event) string {
	ev := "no event"
	if e != nil {
		ev = fmt.Sprintf("event %q (created %s, updated %s)", e.Status, e.Created, e.Updated)
	}
	var reqs []string
	id := gcal.EventID(c.org, a.Key)
	for _, q := range r.sb.Calendar.Requests() {
		if q.EventID == id {
			reqs = append(reqs, fmt.Sprintf("%s %d faulted=%v at %s", q.Op, q.Status, q.Faulted, q.At.Format("15:04:05.000")))
		}
	}
	return fmt.Sprintf("appointment %s (%s clinic): database %q (attempted %v, event %q, updated %s), calendar %s; requests naming the event: %v",
		a.Key, c.role, a.Status, a.Attempted, a.EventID, a.UpdatedAt.Format("15:04:05.000"), ev, reqs)
}

func (r *harness) checkCalendar(ctx context.Context) (calendarFindings, error) {
	var f calendarFindings
	for _, c := range r.clinics {
		appts, err := r.st.Appointments(ctx, c.org, 1<<20)
		if err != nil {
			return f, fmt.Errorf("read appointments: %w", err)
		}
		byKey := make(map[string]store.Appointment)
		booked := make(map[string]bool) // event IDs
		for _, a := range appts {
			byKey[a.Key] = a
			if a.Status == store.Booked {
				booked[a.EventID] = true
				f.booked++
			}
		}
		keys, slots := make(map[string]int), make(map[string]int)
		live := make(map[string]bool)
		disagree := func(a store.Appointment, e *calendar.Event) {
			f.disagree++
			if len(f.examples) < 5 {
				f.examples = append(f.examples, r.disagreement(c, a, e))
			}
		}
		events := make(map[string]*calendar.Event)
		for _, e := range r.sb.Calendar.Events(sandbox.Account(c.org)) {
			events[e.Id] = e
			f.events++
			m := keyInDescription.FindStringSubmatch(e.Description)
			if m == nil {
				f.orphans++
				continue
			}
			if keys[m[1]]++; keys[m[1]] > 1 {
				f.perKey++
			}
			if _, ok := byKey[m[1]]; !ok || e.Id != gcal.EventID(c.org, m[1]) {
				f.orphans++
			}
			if e.Status == "cancelled" {
				continue
			}
			live[e.Id] = true
			if slots[e.Start.DateTime]++; slots[e.Start.DateTime] > 1 {
				f.perSlot++
			}
			if !booked[e.Id] {
				disagree(byKey[m[1]], e)
			}
		}
		for _, a := range appts {
			if a.Status == store.Booked && !live[a.EventID] {
				disagree(a, events[a.EventID])
			}
		}
	}
	return f, nil
}

// textFindings are what the fake Twilio, the outbox, the deliveries and
// their audit trails say.
type textFindings struct {
	messages, creates, pending int
	duplicates                 int
	unaudited                  int // creates beyond the attempts audited for their text
	unrecorded                 int // messages whose SID no audit row of their text holds
	wrongStatus, backwards     int
	callbacksPending           int // messages whose callbacks were not all answered by the end
	examples                   []string
}

func (r *harness) checkTexts(ctx context.Context) (textFindings, error) {
	var f textFindings
	texts, err := r.st.RecentTexts(ctx, 1<<20)
	if err != nil {
		return f, fmt.Errorf("read texts: %w", err)
	}
	type id struct{ from, to, body string }
	type text struct {
		org, key string
		creates  int
		sids     []string
	}
	byContent := make(map[id]*text)
	for _, t := range texts {
		if r.clinicOf(t.OrgID) == nil {
			continue
		}
		byContent[id{t.From, t.To, t.Body}] = &text{org: t.OrgID, key: t.Key}
		if t.State == store.TextPending {
			f.pending++
		}
	}
	for _, q := range r.sb.SMS.Requests() {
		if q.Op != twiliotest.Create {
			continue
		}
		f.creates++
		if t := byContent[id{q.Params.Get("From"), q.Params.Get("To"), q.Params.Get("Body")}]; t != nil {
			t.creates++
		} else {
			f.unaudited++ // a create the server has no text for
		}
	}
	seen := make(map[id]int)
	for _, m := range r.sb.SMS.Messages() {
		f.messages++
		k := id{m.From, m.To, m.Body}
		if seen[k]++; seen[k] > 1 {
			f.duplicates++
		}
		t := byContent[k]
		if t == nil {
			f.unrecorded++
			continue
		}
		t.sids = append(t.sids, m.SID)
		final, code, delivered := r.carrier.final(m.SID)
		if !delivered {
			f.callbacksPending++
			if len(f.examples) < 8 {
				d, err := r.deliveries.BySID(ctx, m.SID)
				f.examples = append(f.examples, fmt.Sprintf("message %s: callbacks left unanswered (%s); server: %q %q %v", m.SID, r.carrier.describe(m.SID), d.Key, d.Status, err))
			}
			continue
		}
		d, err := r.deliveries.BySID(ctx, m.SID)
		if err != nil || string(d.Status) != final || d.ErrorCode != code {
			f.wrongStatus++
			if len(f.examples) < 5 {
				f.examples = append(f.examples, fmt.Sprintf("message %s: carrier %q (%d), server %q (%d) %v", m.SID, final, code, d.Status, d.ErrorCode, err))
			}
		}
	}
	for _, t := range byContent {
		if t.creates == 0 && len(t.sids) == 0 {
			continue
		}
		trail, err := r.deliveries.Trail(ctx, t.org, t.key)
		if err != nil {
			return f, fmt.Errorf("read audit trail: %w", err)
		}
		attempts, last := 0, 0
		recorded := make(map[string]bool)
		for _, e := range trail {
			switch e.Event {
			case twilioguard.EventAttempt:
				attempts++
			case twilioguard.EventAccepted, twilioguard.EventReconciled:
				recorded[e.SID] = true
			case twilioguard.EventStatus:
				rank := statusRank(e.Status)
				if rank < last {
					f.backwards++
					if len(f.examples) < 8 {
						f.examples = append(f.examples, fmt.Sprintf("text %s: status %q recorded after a later one", t.key, e.Status))
					}
				}
				last = max(last, rank)
			}
		}
		f.unaudited += max(t.creates-attempts, 0)
		for _, sid := range t.sids {
			if !recorded[sid] {
				f.unrecorded++
			}
		}
	}
	return f, nil
}

// statusRank orders the statuses a status callback may record.
func statusRank(s twilioguard.Status) int {
	switch s {
	case twilioguard.Queued, twilioguard.Accepted:
		return 1
	case twilioguard.Sending:
		return 2
	case twilioguard.Sent:
		return 3
	case twilioguard.Delivered, twilioguard.Undelivered, twilioguard.Failed:
		return 4
	}
	return 0
}

// tokenFindings compare the grants the fake Google issued or refused
// with gcal's audit rows.
type tokenFindings struct {
	grants    int
	unaudited int
}

func (r *harness) checkTokens(ctx context.Context) (tokenFindings, error) {
	var f tokenFindings
	type tally struct{ issued, linked, refused int }
	fake := make(map[string]*tally)
	for _, c := range r.clinics {
		fake[sandbox.Account(c.org)] = &tally{}
	}
	for _, q := range r.sb.Calendar.Requests() {
		t := fake[q.Account]
		if q.Op != gcaltest.OpToken || t == nil {
			continue
		}
		switch {
		case q.Status == 200 && q.Grant == "refresh_token":
			t.issued++
		case q.Status == 200 && q.Grant == "authorization_code":
			t.linked++
		case q.Status == 400 && q.Grant == "refresh_token":
			t.refused++
		default:
			continue
		}
		f.grants++
	}
	for _, c := range r.clinics {
		log, err := r.links.AuditLog(ctx, c.org, 0)
		if err != nil {
			return f, fmt.Errorf("read gcal audit: %w", err)
		}
		var got tally
		for _, e := range log {
			switch e.Event {
			case gcal.AuditRefreshed:
				got.issued++
			case gcal.AuditLinked, gcal.AuditRelinked:
				got.linked++
			case gcal.AuditRefused:
				if e.Detail == "invalid_grant" {
					got.refused++
				}
			}
		}
		t := fake[sandbox.Account(c.org)]
		f.unaudited += max(t.issued-got.issued, 0) + max(t.linked-got.linked, 0) + max(t.refused-got.refused, 0)
	}
	return f, nil
}
