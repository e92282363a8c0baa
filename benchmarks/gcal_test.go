package benchmarks

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"

	"github.com/voxanne/resilience/gcal"
	"github.com/voxanne/resilience/gcal/gcaltest"
)

// gcalBench is a gcaltest server on loopback, a Calendar service on it
// without gcal, and a gcal Client on it with one linked org.
type gcalBench struct {
	srv    *gcaltest.Server
	svc    *calendar.Service
	store  *gcal.MemoryStore
	client *gcal.Client
	bearer string
	seq    int // makes keys and event ids unique across runs of a benchmark
}

const benchOrg = "clinic-bench"

func newGcalBench(tb testing.TB) *gcalBench {
	tb.Helper()
	srv := gcaltest.NewServer(gcaltest.Options{})
	tb.Cleanup(srv.Close)
	svc, err := calendar.NewService(context.Background(),
		option.WithEndpoint(srv.URL()), option.WithHTTPClient(srv.Client()))
	if err != nil {
		tb.Fatal(err)
	}
	store := &gcal.MemoryStore{}
	tok := srv.IssueToken(gcaltest.DefaultAccount)
	if _, err := store.Save(context.Background(), gcal.Link{OrgID: benchOrg, Status: gcal.Linked, Token: tok}); err != nil {
		tb.Fatal(err)
	}
	client := gcal.New(srv.OAuthConfig("https://app.example/cb"), store,
		gcal.WithEndpoint(srv.URL()), gcal.WithHTTPClient(srv.Client()))
	return &gcalBench{srv: srv, svc: svc, store: store, client: client, bearer: "Bearer " + tok.AccessToken}
}

var benchStart = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// BenchmarkGcalBook compares a booking through gcal (link load, token
// check, safecall, the org's breaker, idempotent event id) with a bare
// Events.Insert of the same event through the same SDK and HTTP client,
// against one gcaltest server on loopback. Target: gcal costs at most 15%
// more (goal 5%). Compare with: go tool benchstat -col /impl out.txt
func BenchmarkGcalBook(b *testing.B) {
	g := newGcalBench(b)
	ctx := context.Background()

	b.Run("impl=gcal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.seq++
			ev, err := g.client.Book(ctx, benchOrg, gcal.Booking{
				Key:     "gcal-" + strconv.Itoa(g.seq),
				Summary: "Check-up",
				Start:   benchStart,
				End:     benchStart.Add(30 * time.Minute),
			})
			if err != nil || !ev.Created {
				b.Fatalf("Book: %+v, %v", ev, err)
			}
		}
	})

	b.Run("impl=bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.seq++
			call := g.svc.Events.Insert("primary", &calendar.Event{
				Id:      "bare" + strconv.Itoa(g.seq) + "0",
				Summary: "Check-up",
				Start:   &calendar.EventDateTime{DateTime: benchStart.Format(time.RFC3339)},
				End:     &calendar.EventDateTime{DateTime: benchStart.Add(30 * time.Minute).Format(time.RFC3339)},
			}).Context(ctx)
			call.Header().Set("Authorization", g.bearer)
			if _, err := call.Do(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// expire makes the stored token of benchOrg expired, as the Client sees it.
func (g *gcalBench) expire(tb testing.TB) {
	tb.Helper()
	l, err := g.store.Load(context.Background(), benchOrg)
	if err != nil {
		tb.Fatal(err)
	}
	l.Token.Expiry = time.Now().Add(-time.Minute)
	if _, err := g.store.Save(context.Background(), l); err != nil {
		tb.Fatal(err)
	}
}

// bookConcurrently makes n bookings at once and returns how many token
// requests they made.
func (g *gcalBench) bookConcurrently(tb testing.TB, round, n int) int {
	tb.Helper()
	before := g.srv.Count(gcaltest.OpToken)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = g.client.Book(context.Background(), benchOrg, gcal.Booking{
				Key:   "expiry-" + strconv.Itoa(round) + "-" + strconv.Itoa(i),
				Start: benchStart, End: benchStart.Add(30 * time.Minute),
			})
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return g.srv.Count(gcaltest.OpToken) - before
}

// BenchmarkGcalConcurrentExpiry: 50 bookings of one org start together
// when its token has expired. Target: exactly 1 token request per batch in
// a process (reported as tokenreqs/op; the benchmark fails otherwise).
func BenchmarkGcalConcurrentExpiry(b *testing.B) {
	g := newGcalBench(b)
	b.ReportAllocs()
	requests, rounds := 0, 0
	for b.Loop() {
		b.StopTimer()
		g.expire(b)
		g.seq++
		rounds++
		b.StartTimer()
		n := g.bookConcurrently(b, g.seq, 50)
		if n != 1 {
			b.Fatalf("round %d: %d token requests for 50 bookings at expiry, want 1", rounds, n)
		}
		requests += n
	}
	b.ReportMetric(float64(requests)/float64(rounds), "tokenreqs/op")
}

// TestGcalConcurrentExpiryOneTokenRequest is the benchmark's target as a
// test, over real loopback HTTP.
func TestGcalConcurrentExpiryOneTokenRequest(t *testing.T) {
	g := newGcalBench(t)
	for round := range 5 {
		g.expire(t)
		if n := g.bookConcurrently(t, round, 50); n != 1 {
			t.Fatalf("round %d: %d token requests for 50 bookings at expiry, want 1", round, n)
		}
	}
}
