package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/voxanne/resilience/twilioguard"
	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

// Both sides of the Twilio benchmarks share one fake Twilio and one
// connection pool; neither sets an HTTP timeout (an http.Client Timeout
// would cost bare twilio-go a goroutine per request with a custom
// transport), so bare twilio-go runs as fast as it can.

const smsBody = "Your appointment is confirmed for Tuesday at 10:00. Reply C to cancel."

type twilioBench struct {
	fake *twiliotest.Server
	pool *http.Transport
}

func newTwilioBench(b *testing.B) *twilioBench {
	b.Helper()
	tb := newTwilioBenchNoCleanup()
	b.Cleanup(func() {
		tb.pool.CloseIdleConnections()
		tb.fake.Close()
	})
	return tb
}

func newTwilioBenchNoCleanup() *twilioBench {
	fake := twiliotest.NewServer()
	pool := http.DefaultTransport.(*http.Transport).Clone()
	pool.MaxIdleConns, pool.MaxIdleConnsPerHost = 256, 256
	return &twilioBench{fake: fake, pool: pool}
}

// bare returns twilio-go's Messages API as its users wire it, sending to
// the fake.
func (tb *twilioBench) bare() *openapi.ApiService {
	target, _ := url.Parse(tb.fake.URL)
	c := &client.Client{
		Credentials: client.NewCredentials(tb.fake.AccountSID, tb.fake.AuthToken),
		HTTPClient:  &http.Client{Transport: &toHost{target: target, next: tb.pool}},
	}
	c.SetAccountSid(tb.fake.AccountSID)
	return openapi.NewApiService(&client.RequestHandler{Client: c})
}

func (tb *twilioBench) guard(b *testing.B, opts ...twilioguard.Option) *twilioguard.Guard {
	b.Helper()
	g, err := twilioguard.New(twilioguard.Config{
		AccountSID: tb.fake.AccountSID,
		AuthToken:  tb.fake.AuthToken,
		From:       twiliotest.FromValid,
		BaseURL:    tb.fake.URL,
	}, append([]twilioguard.Option{twilioguard.WithHTTPClient(&http.Client{Transport: tb.pool})}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// toHost sends every request to target, as twilio-go needs to reach a fake.
type toHost struct {
	target *url.URL
	next   http.RoundTripper
}

func (t *toHost) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = t.target.Scheme, t.target.Host, ""
	return t.next.RoundTrip(out)
}

func createParams(from, to string) *openapi.CreateMessageParams {
	p := &openapi.CreateMessageParams{}
	p.SetFrom(from).SetTo(to).SetBody(smsBody)
	return p
}

// reportCPU reports the process CPU time per op since start (client and
// fake server together, the same fake for every impl): on a busy machine
// a steadier comparison than ns/op.
func reportCPU(b *testing.B, start time.Duration, ops int) {
	reportCPUTime(b, processCPU()-start, ops)
}

func reportCPUTime(b *testing.B, cpu time.Duration, ops int) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "cpu-ns/op")
	}
}

// BenchmarkTwilioSend measures one text, sent one after another: a bare
// twilio-go CreateMessage, and a Guard's Send (validation, in-memory
// delivery record, org breaker, retry policy, audit of nothing) around the
// same call. Compare with: go tool benchstat -col /impl new.txt
//
// Each text is a round trip between goroutines of one process on the
// machine's few CPUs, so its time moves by several percent from run to
// run; BenchmarkTwilioSendClient measures the client side alone.
func BenchmarkTwilioSend(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=twilio-go", func(b *testing.B) {
		tb := newTwilioBench(b)
		api := tb.bare()
		b.ReportAllocs()
		cpu := processCPU()
		for i := 0; i < b.N; i++ {
			if i%4096 == 4095 {
				b.StopTimer()
				tb.fake.Reset()
				b.StartTimer()
			}
			m, err := api.CreateMessage(createParams(twiliotest.FromValid, "+15551234567"))
			if err != nil || m.Sid == nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu, b.N)
	})
	b.Run("impl=twilioguard", func(b *testing.B) {
		tb := newTwilioBench(b)
		// The store starts afresh whenever the fake does: both keep every
		// message, and a heap that grows with b.N costs the collector, not
		// the guard.
		g := tb.guard(b, twilioguard.WithStore(&twilioguard.MemoryStore{}))
		b.ReportAllocs()
		cpu := processCPU()
		for i := 0; i < b.N; i++ {
			if i%4096 == 4095 {
				b.StopTimer()
				tb.fake.Reset()
				g = tb.guard(b, twilioguard.WithStore(&twilioguard.MemoryStore{}))
				b.StartTimer()
			}
			d, err := g.Send(ctx, twilioguard.Message{
				OrgID: "clinic-1", Key: "appt-" + strconv.Itoa(i), To: "+15551234567", Body: smsBody,
			})
			if err != nil || d.SID == "" {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu, b.N)
	})
}

// BenchmarkTwilioSendClient measures the client side alone: the same
// calls as BenchmarkTwilioSend, answered in memory with the fake's own
// answer (a fresh SID each time), so that neither the fake nor goroutine
// wake-ups weigh in. The difference between the columns is what a Send
// costs on top of twilio-go, in CPU time.
func BenchmarkTwilioSendClient(b *testing.B) {
	ctx := context.Background()
	tb := newTwilioBench(b)
	answer := newCannedTwilio(b, tb)
	b.Run("impl=twilio-go", func(b *testing.B) {
		c := &client.Client{
			Credentials: client.NewCredentials(tb.fake.AccountSID, tb.fake.AuthToken),
			HTTPClient:  &http.Client{Transport: answer},
		}
		c.SetAccountSid(tb.fake.AccountSID)
		api := openapi.NewApiService(&client.RequestHandler{Client: c})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m, err := api.CreateMessage(createParams(twiliotest.FromValid, "+15551234567"))
			if err != nil || m.Sid == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=twilioguard", func(b *testing.B) {
		guard := func() *twilioguard.Guard {
			g, err := twilioguard.New(twilioguard.Config{
				AccountSID: tb.fake.AccountSID,
				AuthToken:  tb.fake.AuthToken,
				From:       twiliotest.FromValid,
				BaseURL:    tb.fake.URL,
			}, twilioguard.WithHTTPClient(&http.Client{Transport: answer}), twilioguard.WithStore(&twilioguard.MemoryStore{}))
			if err != nil {
				b.Fatal(err)
			}
			return g
		}
		g := guard()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%4096 == 4095 { // as in BenchmarkTwilioSend
				b.StopTimer()
				g = guard()
				b.StartTimer()
			}
			d, err := g.Send(ctx, twilioguard.Message{
				OrgID: "clinic-1", Key: "appt-" + strconv.Itoa(i), To: "+15551234567", Body: smsBody,
			})
			if err != nil || d.SID == "" {
				b.Fatal(err)
			}
		}
	})
}

// cannedTwilio answers every request in memory with one answer the fake
// gave to a create, under a fresh SID each time.
type cannedTwilio struct {
	body []byte // the answer, its SID replaced by %s
	n    atomic.Int64
}

func newCannedTwilio(b *testing.B, tb *twilioBench) *cannedTwilio {
	b.Helper()
	var raw []byte
	target, _ := url.Parse(tb.fake.URL)
	capture := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := (&toHost{target: target, next: tb.pool}).RoundTrip(r)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if raw, err = io.ReadAll(resp.Body); err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		return resp, nil
	})
	c := &client.Client{
		Credentials: client.NewCredentials(tb.fake.AccountSID, tb.fake.AuthToken),
		HTTPClient:  &http.Client{Transport: capture},
	}
	c.SetAccountSid(tb.fake.AccountSID)
	m, err := openapi.NewApiService(&client.RequestHandler{Client: c}).CreateMessage(createParams(twiliotest.FromValid, "+15551234567"))
	if err != nil || m.Sid == nil {
		b.Fatalf("capturing an answer: %v", err)
	}
	return &cannedTwilio{body: bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("%"), []byte("%%")), []byte(*m.Sid), []byte("%s"))}
}

func (c *cannedTwilio) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	body := fmt.Appendf(nil, string(c.body), fmt.Sprintf("SM%032x", c.n.Add(1)))
	return &http.Response{
		StatusCode: http.StatusCreated, Status: "201 Created", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkTwilioSendBatch sends 10,000 texts for 100 clinics (each with
// its own number), 32 requests at a time: a bare twilio-go worker pool and
// a Guard's SendBatch. It reports texts per second.
func BenchmarkTwilioSendBatch(b *testing.B) {
	const (
		texts       = 10_000
		orgs        = 100
		concurrency = 32
	)
	ctx := context.Background()
	from := func(org int) string { return fmt.Sprintf("+1555%07d", org) }
	report := func(b *testing.B, cpu time.Duration) {
		b.ReportMetric(float64(texts*b.N)/b.Elapsed().Seconds(), "msgs/s")
		reportCPUTime(b, cpu, texts*b.N)
	}

	b.Run("impl=twilio-go", func(b *testing.B) {
		tb := newTwilioBench(b)
		api := tb.bare()
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			tb.fake.Reset()
			b.StartTimer()
			start := processCPU()
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			for range concurrency {
				wg.Go(func() {
					for {
						j := int(next.Add(1)) - 1
						if j >= texts {
							return
						}
						if _, err := api.CreateMessage(createParams(from(j%orgs), "+15551234567")); err != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			cpu += processCPU() - start
			if failed.Load() > 0 {
				b.Fatalf("%d failed", failed.Load())
			}
		}
		report(b, cpu)
	})
	b.Run("impl=twilioguard", func(b *testing.B) {
		tb := newTwilioBench(b)
		msgs := make([]twilioguard.Message, texts)
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			tb.fake.Reset()
			g := tb.guard(b, twilioguard.WithStore(&twilioguard.MemoryStore{}), twilioguard.WithConcurrency(concurrency))
			for j := range msgs {
				msgs[j] = twilioguard.Message{
					OrgID: "clinic-" + strconv.Itoa(j%orgs),
					Key:   "run-" + strconv.Itoa(i) + "/appt-" + strconv.Itoa(j),
					To:    "+15551234567",
					From:  from(j % orgs),
					Body:  smsBody,
				}
			}
			b.StartTimer()
			start := processCPU()
			res := g.SendBatch(ctx, msgs)
			cpu += processCPU() - start
			for _, r := range res {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		report(b, cpu)
	})
}
