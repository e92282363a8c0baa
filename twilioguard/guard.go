package twilioguard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// Guard sends SMS through Twilio for many tenants (orgs): each message
// once, each org behind its own circuit breaker, every attempt audited.
// It is safe for concurrent use. Create one with New.
type Guard struct {
	cfg          Config
	base         *url.URL // nil: Twilio's API
	creds        *client.Credentials
	edge, region string // twilio-go's TWILIO_EDGE and TWILIO_REGION
	transport    http.RoundTripper
	pool         *http.Transport // the default transport, owned by the Guard
	timeout      time.Duration
	validator    client.RequestValidator

	breakers    *breaker.Registry[string]
	store       DeliveryStore
	sink        AuditSink
	callOpts    []safecall.Option
	concurrency int
	log         *slog.Logger
	now         func() time.Time
	lease       time.Duration

	flights flights
	recent  recent
	calls   sync.Pool // of *call
}

// Send sends m unless a message of its (OrgID, Key) was sent before, and
// returns its Delivery.
//
// m is validated first (see Message); a bad one fails with
// ErrInvalidNumber or ErrInvalidMessage and no request. The delivery is
// recorded as Pending before the request, so that concurrent Sends of one
// key, in this process or another sharing the store, make one request:
// in this process they share its result; in another, the later one waits
// for the first (polling the store) and returns what it recorded.
//
// A key that already has a SID returns its Delivery and nil, with no
// request. A key Twilio refused for good returns its Failed delivery and
// Twilio's code again.
//
// A 5xx, a timeout or reset after the request was written, or an answer
// that cannot be decoded leaves the delivery Unknown: before sending again
// Send lists Twilio's messages to the number and matches the body, and
// sends only if Twilio has none. If listing fails, Send returns an error
// and the delivery stays Unknown; the next Send of the key reconciles.
//
// Failures are retried as the call options say (by default 3 retries with
// backoff, Retry-After honoured), through the breaker of m.OrgID. An error
// is an *Error.
func (g *Guard) Send(ctx context.Context, m Message) (Delivery, error) {
	return g.send(ctx, m, nil)
}

func (g *Guard) send(ctx context.Context, m Message, sl *slot) (Delivery, error) {
	m, err := g.validate(m)
	if err != nil {
		return Delivery{OrgID: m.OrgID, Key: m.Key}, g.newError(m, Delivery{}, 0, err)
	}
	key := deliveryKey{m.OrgID, m.Key}
	for {
		d, err, shared := g.flights.do(ctx, key, func() (Delivery, error) {
			return g.deliver(ctx, m, sl)
		})
		if d.OrgID == "" {
			d.OrgID, d.Key = m.OrgID, m.Key
		}
		if err == nil {
			return d, nil
		}
		var e *Error
		if shared && ctx.Err() == nil && errors.As(err, &e) && e.Class == safecall.Canceled {
			continue // the Send we waited for was canceled, not us: go on
		}
		if !errors.As(err, &e) {
			err = g.newError(m, d, 0, err)
		}
		return d, err
	}
}

// Result is the outcome of one message of a batch.
type Result struct {
	Delivery Delivery
	Err      error
}

// SendBatch sends msgs as Send does, at most WithConcurrency requests at a
// time, and returns their results in the order of msgs. A Send that waits
// to retry holds no request slot, and the messages of an org whose breaker
// is open fail at once (class CircuitOpen), so that one failing org does
// not hold up the others.
func (g *Guard) SendBatch(ctx context.Context, msgs []Message) []Result {
	out := make([]Result, len(msgs))
	if len(msgs) == 0 {
		return out
	}
	// Up to 4n workers, of which n hold a request slot. A worker keeps its
	// slot from message to message (no hand-off while all goes well), and
	// gives it up when one of its attempts fails, so that another worker
	// goes on while it waits to retry; when its wait ends it takes a slot
	// back from the first worker to finish a message.
	slots := &slots{c: make(chan struct{}, g.concurrency)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(msgs), 4*g.concurrency) {
		wg.Go(func() {
			sl := &slot{slots: slots}
			defer sl.release()
			for {
				use := sl
				if sl.take(ctx) != nil {
					use = nil // the context is done: the Send says so at once
				}
				i := int(next.Add(1)) - 1
				if i >= len(msgs) {
					return
				}
				d, err := g.send(ctx, msgs[i], use)
				out[i] = Result{Delivery: d, Err: err}
				if slots.waiting.Load() > 0 {
					sl.release() // a Send back from its wait goes first
				}
			}
		})
	}
	wg.Wait()
	return out
}

// slots are the request slots of a batch.
type slots struct {
	c       chan struct{} // one token per slot held
	waiting atomic.Int32  // Sends back from a retry wait, waiting for a slot
}

// slot is a batch worker's hold on a request slot.
type slot struct {
	slots *slots
	held  bool
}

// take gets a slot for the worker's next message.
func (s *slot) take(ctx context.Context) error {
	if s.held {
		return nil
	}
	select {
	case s.slots.c <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retake gets a slot back for another attempt, ahead of new messages.
func (s *slot) retake(ctx context.Context) error {
	if s.held {
		return nil
	}
	s.slots.waiting.Add(1)
	defer s.slots.waiting.Add(-1)
	return s.take(ctx)
}

func (s *slot) release() {
	if s.held {
		<-s.slots.c
		s.held = false
	}
}

// Delivery returns the delivery of (orgID, key), or ErrNotFound.
func (g *Guard) Delivery(ctx context.Context, orgID, key string) (Delivery, error) {
	return g.store.Get(ctx, orgID, key)
}

// CloseIdleConnections closes the idle connections of the Guard's own
// HTTP transport (not of one given with WithHTTPClient). The Guard stays
// usable.
func (g *Guard) CloseIdleConnections() {
	if g.pool != nil {
		g.pool.CloseIdleConnections()
	}
}

// orgBreaker is an org's breaker as Send uses it: a rate limit or a store
// failure is neither a success nor a failure of Twilio.
type orgBreaker struct{ b *breaker.Breaker }

func (o orgBreaker) Allow() (func(error), error) {
	done, err := o.b.Allow()
	if err != nil {
		return nil, err
	}
	return func(err error) {
		var se *storeError
		if err != nil && (Classify(err) == safecall.RateLimit || errors.As(err, &se)) {
			err = context.Canceled // neutral
		}
		done(err)
	}, nil
}

// Snapshot lets safecall see that the breaker will stay open.
func (o orgBreaker) Snapshot() breaker.Snapshot { return o.b.Snapshot() }

// flights merges concurrent Sends of one key in this process: one runs,
// the others wait for its result (or for their own context to end).
type flights struct {
	mu sync.Mutex
	m  map[deliveryKey]*flight
}

type flight struct {
	done chan struct{} // made when the first follower comes
	// res is for the followers, set before done is closed. It is kept
	// apart from the flight, and made only when someone waits for it:
	// most Sends have no follower.
	res *Result
}

// do runs fn, or waits for the run of key already under way. shared
// reports that another call waited for, or ran, this result.
func (f *flights) do(ctx context.Context, key deliveryKey, fn func() (Delivery, error)) (d Delivery, err error, shared bool) {
	f.mu.Lock()
	if c, ok := f.m[key]; ok {
		if c.done == nil {
			c.done = make(chan struct{})
		}
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.res.Delivery, c.res.Err, true
		case <-ctx.Done():
			return Delivery{}, safecall.Mark(ctx.Err(), safecall.Canceled), true
		}
	}
	if f.m == nil {
		f.m = make(map[deliveryKey]*flight)
	}
	c := &flight{}
	f.m[key] = c
	f.mu.Unlock()
	returned := false
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		shared = c.done != nil
		if shared {
			c.res = &Result{Delivery: d, Err: err}
			if !returned {
				c.res.Err = errPanicked // what followers get if fn panics
			}
			close(c.done)
		}
		f.mu.Unlock()
	}()
	d, err = fn()
	returned = true
	return d, err, false
}

var errPanicked = errors.New("twilioguard: send panicked")

func itoa(n int) string { return strconv.Itoa(n) }
