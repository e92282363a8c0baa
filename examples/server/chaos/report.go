package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime/metrics"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/goleak"
)

// report is what a run found: the faults it injected, the requests by
// outcome and the checks.
type report struct {
	o          options
	started    bool
	dialect    string
	redis      bool
	settleTook time.Duration
	settled    bool

	injected                    [kinds]int
	injectErrors                []string
	faultedCalendar, faultedSMS int
	carrier                     carrierStats
	relinks                     int

	counts                         map[bool]*[outcomes]int
	latency                        [2]latency // baseline, storm
	events, messages, pendingTexts int

	checks     []check
	heapMax    uint64
	leaked     int
	leakReport string
	examples   []string // of answers that failed a check
}

// latency is the p50 and p99 of n requests.
type latency struct {
	p50, p99 time.Duration
	n        int
}

func (rep *report) ok() bool { return rep.started && rep.failed() == 0 }

func (rep *report) failed() int {
	n := 0
	for _, c := range rep.checks {
		if !c.ok {
			n++
		}
	}
	return n
}

// addProcessChecks adds the checks of the process as a whole, measured
// once everything has stopped.
func (rep *report) addProcessChecks() {
	work := rep.work()
	bound := heapBound(work)
	rep.checks = append(rep.checks,
		check{"goroutines left once the run stopped", fmt.Sprint(rep.leaked), "0", rep.leaked == 0},
		check{"live heap, at most", mib(rep.heapMax), fmt.Sprintf("<= %s (%s + %s for each of %d records)",
			mib(bound), mib(heapBase), kib(heapPerRecord), work), rep.heapMax <= bound})
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func kib(b uint64) string { return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10)) }

// work counts the records the run leaves in memory on purpose: the
// requests the harness made and logged, the status callbacks the carrier
// posted, and what the fakes keep (every event, every message and every
// request of their logs).
func (rep *report) work() int {
	n := rep.events + rep.messages + rep.carrier.posted
	for _, m := range rep.counts {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// print writes the report as one table.
func (rep *report) print(out io.Writer) {
	o := rep.o
	redis := "no Redis"
	if rep.redis {
		redis = "Redis of its own (killed and started again)"
	}
	settled := "settled in " + rep.settleTook.Round(100*time.Millisecond).String()
	if !rep.settled {
		settled = "did not settle within " + settleLimit(o.duration).String()
	}
	fmt.Fprintf(out, "chaos run: seed %d, %v (baseline %v, faults %v, then %s), %d clinics x %d callers, %s, %s, %d restarts\n",
		o.seed, o.duration, o.duration/5, 3*o.duration/5, settled, o.clinics, o.callers, rep.dialect, redis, o.restarts)
	fmt.Fprintf(out, "clinics with faults: flaky (both vendors), token (Google tokens), sms-outage (its number); %d without faults\n\n",
		o.clinics-faultyClinics)

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FAULTS INJECTED\tCOUNT")
	for k := range kinds {
		if k == redisKill && !rep.redis {
			continue
		}
		fmt.Fprintf(w, "%s\t%d\n", k, rep.injected[k])
	}
	fmt.Fprintf(w, "vendor requests failed on purpose (fakes' logs)\tcalendar %d, sms %d\n", rep.faultedCalendar, rep.faultedSMS)
	cs := rep.carrier
	fmt.Fprintf(w, "status callbacks posted (twice, out of order, late, early; posted again)\t%d (%d, %d, %d, %d; %d)\n",
		cs.posted, cs.duplicates, cs.reordered, cs.late, cs.early, cs.reposted)
	fmt.Fprintf(w, "calendars relinked by their clinic after invalid_grant\t%d\n", rep.relinks)
	w.Flush()

	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "REQUESTS BY OUTCOME\tCLINICS WITH FAULTS\tWITHOUT\tALL\t")
	for o := range outcomes {
		f, c := rep.counts[false][o], rep.counts[true][o]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t\n", o, f, c, f+c)
	}
	w.Flush()
	b, s := rep.latency[0], rep.latency[1]
	fmt.Fprintf(out, "clinics without faults, p50 / p99: baseline %v / %v (%d requests), faults %v / %v (%d requests, restarts left out)\n",
		b.p50.Round(100*time.Microsecond), b.p99.Round(100*time.Microsecond), b.n,
		s.p50.Round(100*time.Microsecond), s.p99.Round(100*time.Microsecond), s.n)
	fmt.Fprintf(out, "fakes hold %d calendar events and %d messages; %d texts still wait in the outbox (it retries them)\n\n",
		rep.events, rep.messages, rep.pendingTexts)

	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CHECK\tOBSERVED\tBOUND\tRESULT")
	for _, c := range rep.checks {
		result := "ok"
		if !c.ok {
			result = "FAILED"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.name, c.observed, c.bound, result)
	}
	w.Flush()
	for _, e := range rep.examples {
		fmt.Fprintln(out, "  e.g.", e)
	}
	if rep.leakReport != "" {
		fmt.Fprintln(out, firstLines(rep.leakReport, 30))
	}
	if rep.failed() > 0 {
		fmt.Fprintf(out, "\n%d checks FAILED; to reproduce: %s\n", rep.failed(), o.command())
	} else {
		fmt.Fprintf(out, "\nevery check holds; to reproduce: %s\n", o.command())
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// memoryWatch samples the live heap (what the last garbage collection
// kept) while a run goes on: runtime/metrics reads it without stopping
// the world, and unlike the heap in use it does not swing with the
// collector's pacing.
type memoryWatch struct {
	quit chan struct{}
	max  chan uint64
}

const liveHeap = "/gc/heap/live:bytes"

func watchMemory() *memoryWatch {
	m := &memoryWatch{quit: make(chan struct{}), max: make(chan uint64, 1)}
	go func() {
		var peak uint64
		sample := []metrics.Sample{{Name: liveHeap}}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				peak = max(peak, sample[0].Value.Uint64())
			}
			select {
			case <-m.quit:
				m.max <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// stop ends the sampling and returns the largest live heap seen.
func (m *memoryWatch) stop() uint64 {
	close(m.quit)
	return <-m.max
}

// goroutineWatch tells the goroutines a run left behind from those that
// were there before it.
type goroutineWatch struct{ before goleak.Option }

func watchGoroutines() goroutineWatch { return goroutineWatch{before: goleak.IgnoreCurrent()} }

var goroutineHeader = regexp.MustCompile(`Goroutine \d+ in state`)

// check returns how many goroutines outlive the run (after goleak's
// retries, a few seconds at most) and goleak's report of them.
func (g goroutineWatch) check() (int, string) {
	err := goleak.Find(g.before)
	if err == nil {
		return 0, ""
	}
	return max(len(goroutineHeader.FindAllString(err.Error(), -1)), 1), err.Error()
}
