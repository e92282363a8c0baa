package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/voxanne/resilience/twilioguard"
	twiliosql "github.com/voxanne/resilience/twilioguard/sqlstore"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// carrier plays the phone network behind the fake Twilio: it moves every
// message the fake accepts to a final status (delivered, or now and then
// undelivered with error 30003) and posts its status callbacks to the
// server late, twice and out of order. Twilio sends them after it has
// answered the create request, so the carrier waits until the server has
// recorded the message's SID (or reconciled it after a lost answer),
// except for an early "sent" now and then, which may arrive before. A
// callback the server does not answer with 2xx (it was restarting) is
// posted again.
type carrier struct {
	sms        *twiliotest.Server
	deliveries *twiliosql.Store
	rng        *rand.Rand // used by run's goroutine only
	seen       int        // messages planned, in the fake's order

	mu    sync.Mutex
	plans map[string]*plan // by SID
	stats carrierStats
}

// plan is what the carrier does with one message. Its fields are changed
// by the worker that holds it (busy), under mu.
type plan struct {
	sid       string
	final     string
	code      int
	early     bool // post a "sent" before the server may know the SID
	callbacks []callback
	next      int  // the callback to post next
	known     bool // the server has recorded the SID
	busy      bool // a worker holds the plan
}

func (p *plan) done() bool { return p.next == len(p.callbacks) }

type callback struct {
	status string
	delay  time.Duration // after the SID is known
	at     time.Time
}

// carrierStats counts what the carrier did.
type carrierStats struct {
	messages, undelivered         int
	posted, duplicates, reordered int
	late, early, reposted         int
}

const (
	undeliveredCode = 30003
	carrierTick     = 20 * time.Millisecond
	discoverEvery   = 5 // ticks
	carrierWorkers  = 8
)

func newCarrier(sms *twiliotest.Server, deliveries *twiliosql.Store, seed uint64) *carrier {
	return &carrier{sms: sms, deliveries: deliveries, rng: rand.New(rand.NewPCG(seed, 0x636172)), plans: make(map[string]*plan)}
}

// run works until ctx ends: it plans the messages the fake accepted and
// hands the plans with a callback due to its workers.
func (c *carrier) run(ctx context.Context) {
	work := make(chan *plan)
	var wg sync.WaitGroup
	for range carrierWorkers {
		wg.Go(func() {
			for p := range work {
				c.advance(ctx, p)
			}
		})
	}
	defer func() { close(work); wg.Wait() }()
	tick := time.NewTicker(carrierTick)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n%discoverEvery == 0 {
			c.discover()
		}
		for _, p := range c.due(time.Now()) {
			select {
			case work <- p:
			case <-ctx.Done():
				return
			}
		}
	}
}

// discover plans the messages the fake accepted since the last time.
func (c *carrier) discover() {
	msgs := c.sms.Messages()
	for _, m := range msgs[min(c.seen, len(msgs)):] {
		c.plan(m)
	}
	c.seen = len(msgs)
}

// plan decides the fate of a message and its callbacks, and sets its
// final status at the fake at once, as Twilio's state moves on before its
// callbacks arrive: a reconciliation reads it there.
func (c *carrier) plan(m twiliotest.Message) {
	p := &plan{sid: m.SID, final: string(twilioguard.Delivered)}
	var st carrierStats
	st.messages++
	if c.rng.IntN(10) == 0 {
		p.final, p.code = string(twilioguard.Undelivered), undeliveredCode
		st.undelivered++
	}
	_ = c.sms.SetStatus(m.SID, p.final, p.code)
	steps := []string{string(twilioguard.Sent), p.final}
	switch c.rng.IntN(4) {
	case 0: // out of order: the final status first
		steps[0], steps[1] = steps[1], steps[0]
		st.reordered++
	case 1: // twice
		steps = append(steps, steps[c.rng.IntN(2)])
		st.duplicates++
	}
	for _, s := range steps {
		cb := callback{status: s, delay: time.Duration(c.rng.IntN(200)) * time.Millisecond}
		if c.rng.IntN(5) == 0 { // late
			cb.delay += time.Second + time.Duration(c.rng.IntN(1000))*time.Millisecond
			st.late++
		}
		p.callbacks = append(p.callbacks, cb)
	}
	if c.rng.IntN(5) == 0 {
		p.early = true
		st.early++
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plans[m.SID] = p
	c.stats.add(st)
}

// due returns the plans that have something to do at now and marks them
// busy: an early callback, a SID to look for, or a callback due.
func (c *carrier) due(now time.Time) []*plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*plan
	for _, p := range c.plans {
		if p.busy || p.done() {
			continue
		}
		if p.early || !p.known || !now.Before(p.callbacks[p.next].at) {
			p.busy = true
			out = append(out, p)
		}
	}
	return out
}

// advance does what is due for p, posting its callbacks in their order.
func (c *carrier) advance(ctx context.Context, p *plan) {
	c.mu.Lock()
	early, known, next := p.early, p.known, p.next
	c.mu.Unlock()
	if early {
		c.post(ctx, p, string(twilioguard.Sent))
		early = false
	}
	if !known {
		if d, err := c.deliveries.BySID(ctx, p.sid); err == nil && d.SID != "" {
			known = true
			now := time.Now()
			for i := range p.callbacks {
				p.callbacks[i].at = now.Add(p.callbacks[i].delay)
			}
		}
	}
	reposted := 0
	for known && next < len(p.callbacks) && !time.Now().Before(p.callbacks[next].at) {
		if !c.post(ctx, p, p.callbacks[next].status) {
			reposted++
			break
		}
		next++
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p.early, p.known, p.next, p.busy = early, known, next, false
	c.stats.reposted += reposted
}

// post posts one callback and reports whether the server answered 2xx.
func (c *carrier) post(ctx context.Context, p *plan, status string) bool {
	code := 0
	if status == p.final {
		code = p.code
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := c.sms.Callback(cctx, p.sid, status, code)
	ok := err == nil && got >= 200 && got < 300
	if ok {
		c.mu.Lock()
		c.stats.posted++
		c.mu.Unlock()
	}
	return ok || errors.Is(err, twiliotest.ErrNoCallback)
}

func (s *carrierStats) add(o carrierStats) {
	s.messages += o.messages
	s.undelivered += o.undelivered
	s.posted += o.posted
	s.duplicates += o.duplicates
	s.reordered += o.reordered
	s.late += o.late
	s.early += o.early
	s.reposted += o.reposted
}

// idle reports whether every message the fake accepted has had all its
// callbacks answered.
func (c *carrier) idle() bool {
	n := len(c.sms.Messages())
	c.mu.Lock()
	defer c.mu.Unlock()
	if n != len(c.plans) {
		return false
	}
	for _, p := range c.plans {
		if !p.done() {
			return false
		}
	}
	return true
}

// final returns the final status and error code the carrier gave sid, and
// whether every callback of it was answered.
func (c *carrier) final(sid string) (status string, code int, delivered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.plans[sid]
	if !ok {
		return "", 0, false
	}
	return p.final, p.code, p.done()
}

func (c *carrier) snapshot() carrierStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// describe says where the plan of sid stands.
func (c *carrier) describe(sid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.plans[sid]
	if !ok {
		return "not planned"
	}
	return fmt.Sprintf("known %v, %d of %d posted, busy %v", p.known, p.next, len(p.callbacks), p.busy)
}
