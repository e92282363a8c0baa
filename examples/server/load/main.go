// Command load puts the reference server under a bounded load, in-process
// against the sandbox: concurrent callers book appointments (each texted to
// its patient) for a while, then poll GET /api/health/integrations for as
// long. It prints requests per second and the p50 and p99 latencies of
// each, and checks what must never happen: an error, a slot booked twice, a
// text sent twice.
//
//	go run ./examples/server/load -duration 20s -c 64
//
// -cpuprofile writes a CPU profile of the booking phase; -database-url
// runs on PostgreSQL instead of a fresh SQLite file. It exits 1 if a check
// fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/examples/server/internal/sandbox"
	"github.com/voxanne/resilience/examples/server/internal/store"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type options struct {
	duration    time.Duration
	concurrency int
	clinics     int
	cpuProfile  string
	databaseURL string
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "length of each phase (bookings, then health)")
	fs.IntVar(&o.concurrency, "c", 64, "concurrent callers")
	fs.IntVar(&o.clinics, "clinics", 16, "clinics the callers book for")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the booking phase to this file")
	fs.StringVar(&o.databaseURL, "database-url", "", "postgres:// URL (default: a fresh SQLite file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.duration <= 0 || o.duration > 10*time.Minute || o.concurrency < 1 || o.concurrency > 1024 || o.clinics < 1 {
		return errors.New("want 0 < -duration <= 10m, 1 <= -c <= 1024, -clinics >= 1")
	}
	dir, err := os.MkdirTemp("", "resilience-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL := o.databaseURL
	if dbURL == "" {
		dbURL = store.SQLiteDSN(filepath.Join(dir, "load.db"))
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	a, err := app.New(ctx, app.Config{
		Addr:           "127.0.0.1:0",
		DatabaseURL:    dbURL,
		Dev:            true,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		SandboxOptions: sandbox.Options{SMSStep: 250 * time.Millisecond},
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { stop(); <-done }()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency}}
	l := &load{o: o, a: a, base: a.URL(), client: client}
	if err := l.onboard(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d clinics signed up and linked; %d callers for %v per phase (sandbox on loopback, SQLite unless -database-url)\n",
		o.clinics, o.concurrency, o.duration)

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}
	bookings := l.phase(l.book)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	health := l.phase(l.health)

	fmt.Fprintln(out, bookings.line("POST /api/appointments"))
	fmt.Fprintln(out, health.line("GET /api/health/integrations"))
	doubles, dupTexts, missing := l.verify(bookings.ok)
	fmt.Fprintf(out, "double bookings: %d, duplicate texts: %d, texts missing: %d, errors: %d\n",
		doubles, dupTexts, missing, bookings.errors+health.errors)
	if bookings.errors+health.errors+doubles+dupTexts > 0 {
		return fmt.Errorf("failed: %s", strings.Join(slices.Concat(bookings.samples, health.samples), "; "))
	}
	return nil
}

type load struct {
	o      options
	a      *app.App
	base   string
	client *http.Client
	orgs   []clinic
	slots  []atomic.Int64 // per clinic: the next free half hour
	first  time.Time
}

type clinic struct{ token, org string }

// onboard signs the clinics up and links their calendars.
func (l *load) onboard() error {
	l.first = time.Now().UTC().Add(24 * time.Hour).Truncate(24 * time.Hour)
	l.slots = make([]atomic.Int64, l.o.clinics)
	for i := range l.o.clinics {
		tok, err := l.a.DevToken(fmt.Sprintf("load-clinic-%d", i), fmt.Sprintf("clinic%d@load.example", i), "authenticated", time.Hour)
		if err != nil {
			return err
		}
		code, body := l.do("PUT", "/api/clinic", tok, fmt.Sprintf(`{"name":"Clinic %d","phone":"+1555%07d"}`, i, i), "")
		if code != http.StatusOK {
			return fmt.Errorf("sign-up: %d %s", code, body)
		}
		org := body[strings.Index(body, `"orgId":"`)+9:]
		org = org[:strings.IndexByte(org, '"')]
		if code, body := l.do("GET", "/api/calendar/link", tok, "", ""); code != http.StatusOK {
			return fmt.Errorf("link: %d %s", code, body)
		}
		l.orgs = append(l.orgs, clinic{token: tok, org: org})
	}
	return nil
}

func (l *load) do(method, path, token, body, key string) (int, string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, l.base+path, rd)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// book is one caller's booking: a slot of its clinic that no one has had.
func (l *load) book(worker, n int) (int, string) {
	i := worker % len(l.orgs)
	slot := l.slots[i].Add(1) - 1
	start := l.first.Add(time.Duration(slot) * 30 * time.Minute).Format(time.RFC3339)
	body := fmt.Sprintf(`{"start":"%s","patient":"Patient %d-%d","phone":"+1666%07d"}`, start, worker, n, worker*100_000+n%100_000)
	code, resp := l.do("POST", "/api/appointments", l.orgs[i].token, body, fmt.Sprintf("w%d-n%d", worker, n))
	if code == http.StatusCreated {
		return 0, ""
	}
	return code, resp
}

func (l *load) health(worker, n int) (int, string) {
	code, resp := l.do("GET", "/api/health/integrations", "", "", "")
	if code == http.StatusOK {
		return 0, ""
	}
	return code, resp
}

// result is what a phase measured.
type result struct {
	ok, errors int
	elapsed    time.Duration
	latencies  []time.Duration
	samples    []string
}

func (r result) line(what string) string {
	if len(r.latencies) == 0 {
		return what + ": no requests"
	}
	slices.Sort(r.latencies)
	q := func(p float64) time.Duration { return r.latencies[int(p*float64(len(r.latencies)-1))] }
	return fmt.Sprintf("%-30s %7.0f/s  p50 %-8v p99 %-8v (%d ok, %d errors)", what,
		float64(r.ok)/r.elapsed.Seconds(), q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), r.ok, r.errors)
}

// phase runs fn from every caller until the duration is over.
func (l *load) phase(fn func(worker, n int) (int, string)) result {
	var mu sync.Mutex
	var res result
	deadline := time.Now().Add(l.o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range l.o.concurrency {
		wg.Go(func() {
			var lat []time.Duration
			ok, bad := 0, 0
			var samples []string
			for n := 0; time.Now().Before(deadline); n++ {
				t := time.Now()
				code, body := fn(w, n)
				lat = append(lat, time.Since(t))
				if code == 0 {
					ok++
					continue
				}
				bad++
				if len(samples) < 3 {
					samples = append(samples, fmt.Sprintf("%d %s", code, strings.TrimSpace(body)))
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.ok += ok
			res.errors += bad
			res.samples = append(res.samples, samples...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// verify counts what must not happen: two events in one slot of a clinic,
// or one booking's text sent twice; and texts not sent (yet).
func (l *load) verify(booked int) (doubles, duplicates, missing int) {
	sb := l.a.Sandbox()
	events := 0
	for _, c := range l.orgs {
		starts := make(map[string]int)
		for _, e := range sb.Calendar.Events(sandbox.Account(c.org)) {
			if e.Status != "cancelled" {
				starts[e.Start.DateTime]++
				events++
			}
		}
		for _, n := range starts {
			doubles += n - 1
		}
	}
	if events != booked {
		doubles += max(events-booked, 0)
	}
	seen := make(map[string]int)
	texts := 0
	for _, m := range sb.SMS.Messages() {
		if strings.HasPrefix(m.To, "+1666") {
			seen[m.To+"\x00"+m.Body]++
			texts++
		}
	}
	for _, n := range seen {
		duplicates += n - 1
	}
	return doubles, duplicates, max(booked-len(seen), 0)
}
