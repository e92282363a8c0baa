package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/gcal/gcaltest"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// kind is a kind of fault (or of event) of the schedule.
type kind int

const (
	calRateLimit kind = iota
	calServerError
	calLostAnswer
	calTimeout
	calReset
	calTokenExpired
	calTokenEndpointDown
	calGrantRevoked
	smsRateLimit
	smsServerError
	smsLostAnswer
	smsTimeout
	smsReset
	smsHTML
	smsNumberOutage
	serverRestart
	redisKill
	kinds
	// The events that end a fault, not counted as faults.
	smsNumberBack
	redisStart
)

var kindNames = [kinds]string{
	calRateLimit:         "calendar: 429 with Retry-After",
	calServerError:       "calendar: 5xx (500, 502, 503)",
	calLostAnswer:        "calendar: booked, then the answer lost (503 or reset)",
	calTimeout:           "calendar: timeout (answer after the attempt gave up)",
	calReset:             "calendar: connection reset",
	calTokenExpired:      "calendar: access token expired (401)",
	calTokenEndpointDown: "calendar: token expired, token endpoint 503",
	calGrantRevoked:      "calendar: grant revoked (invalid_grant), then relinked",
	smsRateLimit:         "sms: 429 with Retry-After",
	smsServerError:       "sms: 5xx on create or list",
	smsLostAnswer:        "sms: accepted, then the answer lost (500, reset, timeout)",
	smsTimeout:           "sms: timeout (not accepted)",
	smsReset:             "sms: connection reset",
	smsHTML:              "sms: HTML error page (502, 503)",
	smsNumberOutage:      "sms: outage of one clinic's number",
	serverRestart:        "server restarted (same database, same port)",
	redisKill:            "Redis killed (SIGKILL), started again later",
}

func (k kind) String() string {
	if k < kinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// event is a fault to inject, at a time from the start of the faults.
type event struct {
	at     time.Duration
	kind   kind
	clinic int // index of the clinic it hits, -1 for none
	times  int // requests it applies to
	choice int // picks a variant (a status, a way to lose the answer)
}

// randomKinds are the faults each role may draw.
var randomKinds = map[role][]kind{
	flaky: {calRateLimit, calServerError, calLostAnswer, calTimeout, calReset,
		smsRateLimit, smsServerError, smsLostAnswer, smsTimeout, smsReset, smsHTML},
	token:  {calTokenExpired, calTokenExpired, calTokenExpired, calTokenEndpointDown, calServerError},
	outage: {smsRateLimit, smsServerError, smsLostAnswer, smsTimeout, smsReset, smsHTML},
}

// meanGap is the mean time between two random faults.
const meanGap = 120 * time.Millisecond

// schedule draws the faults of a storm of length d from seed: random
// faults of the faulty clinics, one every meanGap on average, and at fixed
// points the outage of one clinic's number, the revocation of another's
// Google grant, Redis killed and started again (withRedis) and restarts
// of the server.
func schedule(seed uint64, d time.Duration, clinics []*clinic, restarts int, withRedis bool) []event {
	rng := rand.New(rand.NewPCG(seed, 0x636861))
	byRole := make(map[role]int)
	for _, c := range clinics {
		if _, ok := byRole[c.role]; !ok {
			byRole[c.role] = c.i
		}
	}
	at := func(f float64) time.Duration { return time.Duration(f * float64(d)) }
	evs := []event{
		{at: at(0.10), kind: smsNumberOutage, clinic: byRole[outage]},
		{at: at(0.45), kind: smsNumberBack, clinic: byRole[outage]},
		{at: at(0.50), kind: calGrantRevoked, clinic: byRole[token]},
	}
	if withRedis {
		evs = append(evs, event{at: at(0.20), kind: redisKill, clinic: -1}, event{at: at(0.55), kind: redisStart, clinic: -1})
	}
	for i := range restarts {
		// The first while Redis is down, the others spread until the end.
		evs = append(evs, event{at: at(0.3 + 0.6*float64(i)/float64(max(restarts, 1))), kind: serverRestart, clinic: -1})
	}
	roles := []role{flaky, token, outage}
	for t := time.Duration(rng.ExpFloat64() * float64(meanGap)); t < at(0.95); t += time.Duration(rng.ExpFloat64() * float64(meanGap)) {
		r := roles[rng.IntN(len(roles))]
		ks := randomKinds[r]
		evs = append(evs, event{at: t, kind: ks[rng.IntN(len(ks))], clinic: byRole[r], times: 1 + rng.IntN(3), choice: rng.IntN(6)})
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return evs
}

// inject makes e happen.
func (r *harness) inject(ctx context.Context, e event) error {
	var c *clinic
	if e.clinic >= 0 {
		c = r.clinics[e.clinic]
	}
	slow := 2 * attemptTimeout
	switch e.kind {
	case serverRestart:
		return r.restart(ctx)
	case redisKill:
		r.redis.kill()
	case redisStart:
		return r.redis.start(ctx)
	case calGrantRevoked:
		return r.revoke(ctx, c)
	case smsNumberOutage:
		r.sb.SMS.Script(sandbox.Sender(c.org), twiliotest.Fault{Op: twiliotest.Any, Status: 503, Times: 1 << 30})
	case smsNumberBack:
		r.sb.SMS.Unscript(sandbox.Sender(c.org))
	default:
		if e.kind < smsRateLimit {
			r.sb.Calendar.Fail(calendarFault(e, sandbox.Account(c.org), slow))
			if e.kind == calTokenEndpointDown {
				r.sb.Calendar.Fail(gcaltest.Fault{Status: 401, Account: sandbox.Account(c.org)})
			}
		} else {
			r.sb.SMS.Script(sandbox.Sender(c.org), smsFault(e, slow))
		}
	}
	return nil
}

// calendarFault is the gcaltest fault of a calendar event for account.
func calendarFault(e event, account string, slow time.Duration) gcaltest.Fault {
	f := gcaltest.Fault{Account: account, Times: e.times}
	switch e.kind {
	case calRateLimit:
		f.Status, f.Reason, f.RetryAfter = 429, "rateLimitExceeded", "1"
	case calServerError:
		f.Status = []int{500, 502, 503}[e.choice%3]
	case calLostAnswer:
		f.Op, f.Commit = gcaltest.OpInsert, true
		if e.choice%2 == 0 {
			f.Status = 503
		} else {
			f.Drop = true
		}
	case calTimeout:
		f.Delay, f.Times = slow, 1
	case calReset:
		f.Drop = true
	case calTokenExpired:
		f.Status, f.Times = 401, 1
	case calTokenEndpointDown:
		f.Op, f.Status, f.Times = gcaltest.OpToken, 503, 1
	}
	return f
}

// smsFault is the twiliotest fault of an SMS event.
func smsFault(e event, slow time.Duration) twiliotest.Fault {
	f := twiliotest.Fault{Times: e.times}
	switch e.kind {
	case smsRateLimit:
		f.Status, f.RetryAfter = 429, "1"
	case smsServerError:
		f.Status = []int{500, 503}[e.choice%2]
		if e.choice >= 4 {
			f.Op = twiliotest.List // a reconciliation's list fails
		}
	case smsLostAnswer:
		f.Accept, f.Times = true, 1
		switch e.choice % 3 {
		case 0:
			f.Status = 500
		case 1:
			f.Reset = true
		default:
			f.Delay = slow
		}
	case smsTimeout:
		f.Delay, f.Times = slow, 1
	case smsReset:
		f.Reset = true
	case smsHTML:
		f.HTML, f.Status = true, []int{502, 503}[e.choice%2]
	}
	return f
}

// revoke has the clinic remove the app's access at Google, through the
// server's development endpoint: its next token refresh is refused
// (invalid_grant) and its access tokens no longer work.
func (r *harness) revoke(ctx context.Context, c *clinic) error {
	a := r.do(ctx, c, "POST", "/api/dev/faults", "", `{"vendor":"calendar","kind":"revoke"}`)
	if a.err != nil || a.status != 202 {
		return fmt.Errorf("revoke the %s clinic's grant: %d %s %v", c.role, a.status, a.Message, a.err)
	}
	return nil
}

// endFaults clears every fault the sandbox still holds and starts Redis
// again if it is down.
func (r *harness) endFaults(ctx context.Context) error {
	r.sb.Calendar.ClearFaults()
	for _, c := range r.clinics {
		r.sb.SMS.Unscript(sandbox.Sender(c.org))
	}
	if r.redis != nil && !r.redis.running() {
		return r.redis.start(ctx)
	}
	return nil
}
