package main

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// phase is a part of the run.
type phase int

const (
	baseline phase = iota // no faults
	storm                 // the fault schedule runs
	settle                // the faults are over; callers retry what failed
	phases
)

func (p phase) String() string { return [...]string{"baseline", "faults", "settle"}[p] }

// outcome is what became of one HTTP request.
type outcome int

const (
	answeredOK  outcome = iota // 2xx
	refused                    // 4xx: a refusal the caller is told about
	unavailable                // 502/503: a vendor (or the server's database) unavailable
	serverError                // any other 5xx
	restarting                 // no connection: the server was restarting (sent again)
	unanswered                 // no answer at all
	outcomes
)

func (o outcome) String() string {
	return [...]string{
		"answered 2xx",
		"answered 4xx (a refusal the caller is told)",
		"answered 502/503 (unavailable, retry later)",
		"answered another 5xx",
		"no connection: server restarting (sent again)",
		"no answer",
	}[o]
}

// failure reports whether o counts against a clinic without faults.
func (o outcome) failure() bool { return o != answeredOK && o != restarting }

// sample is one HTTP request a caller made.
type sample struct {
	calm    bool
	phase   phase
	start   time.Time
	took    time.Duration
	outcome outcome
}

// window is a time when the server was down for a restart.
type window struct{ from, to time.Time }

// records keeps what the callers saw. It is safe for concurrent use.
type records struct {
	mu      sync.Mutex
	samples []sample
	windows []window
	// uncalm and noAnswer keep a few examples of what failed those
	// checks; their counts are in the samples and uncalmN.
	uncalm      []string
	uncalmN     int
	noAnswer    []string
	calmFailure []string
}

func (rs *records) add(s sample) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.samples = append(rs.samples, s)
}

// down opens a restart window; the function it returns closes it.
func (rs *records) down() func() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.windows = append(rs.windows, window{from: time.Now()})
	i := len(rs.windows) - 1
	return func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		rs.windows[i].to = time.Now()
	}
}

// restartGrace is how long after a restart a refused connection is still
// put down to it: the client may have dialled before the listener was up.
const restartGrace = 250 * time.Millisecond

// restarting reports whether [from, to] meets a restart window (or one
// still open).
func (rs *records) restarting(from, to time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, w := range rs.windows {
		if w.to.IsZero() || (!from.After(w.to.Add(restartGrace)) && !to.Before(w.from)) {
			return true
		}
	}
	return false
}

func (rs *records) noteUncalm(what string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.uncalmN++
	if len(rs.uncalm) < 5 {
		rs.uncalm = append(rs.uncalm, what)
	}
}

func (rs *records) noteCalmFailure(what string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.calmFailure) < 5 {
		rs.calmFailure = append(rs.calmFailure, what)
	}
}

func (rs *records) noteNoAnswer(what string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.noAnswer) < 5 {
		rs.noAnswer = append(rs.noAnswer, what)
	}
}

// latency returns the p50 and p99 of the answered requests of the clinics
// without faults in phase p, leaving out those that met a restart, and
// how many there were.
func (rs *records) latency(p phase) (p50, p99 time.Duration, n int) {
	rs.mu.Lock()
	var took []time.Duration
	for _, s := range rs.samples {
		if s.calm && s.phase == p && s.outcome == answeredOK && !rs.metRestartLocked(s) {
			took = append(took, s.took)
		}
	}
	rs.mu.Unlock()
	if len(took) == 0 {
		return 0, 0, 0
	}
	slices.Sort(took)
	q := func(f float64) time.Duration { return took[int(f*float64(len(took)-1))] }
	return q(0.50), q(0.99), len(took)
}

func (rs *records) metRestartLocked(s sample) bool {
	for _, w := range rs.windows {
		if !s.start.After(w.to.Add(restartGrace)) && !s.start.Add(s.took).Before(w.from) {
			return true
		}
	}
	return false
}

// counts returns the requests by outcome, for the clinics with faults
// (false) and without (true).
func (rs *records) counts() map[bool]*[outcomes]int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := map[bool]*[outcomes]int{true: {}, false: {}}
	for _, s := range rs.samples {
		out[s.calm][s.outcome]++
	}
	return out
}

// calmFailures counts the failed requests of the clinics without faults.
func (rs *records) calmFailures() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := 0
	for _, s := range rs.samples {
		if s.calm && s.outcome.failure() {
			n++
		}
	}
	return n
}

// classify gives the outcome of an answer with status.
func classify(status int) outcome {
	switch {
	case status < 300:
		return answeredOK
	case status < 500:
		return refused
	case status == 502 || status == 503:
		return unavailable
	}
	return serverError
}

// leaks are what an error message must never show a caller: addresses,
// codes, stack traces, Go's and the vendors' own words.
var leaks = []*regexp.Regexp{
	regexp.MustCompile(`(?i)https?://|www\.`),
	regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`),
	regexp.MustCompile(`(?i)\blocalhost\b|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|net|org|io|dev|example|local|internal)\b`),
	regexp.MustCompile(`\b[1-5]\d\d\b`),  // HTTP statuses
	regexp.MustCompile(`\b[1-9]\d{4}\b`), // Twilio's error codes
	regexp.MustCompile(`(?i)goroutine|panic|\.go:\d|runtime\.|\bstack\b`),
	regexp.MustCompile(`(?i)googleapi|oauth2|invalid_grant|backendError|rateLimitExceeded|twilio|safecall|gcal|sqlstore|pgx|sqlite|redis|breaker`),
	regexp.MustCompile(`(?i)<html|<!doctype|service unavailable|too many requests|internal server error|bad gateway|gateway timeout`),
	regexp.MustCompile(`(?i)deadline exceeded|connection reset|connection refused|\bEOF\b|dial tcp|i/o timeout|json:|sql:|context canceled`),
}

// uncalm says what is wrong with msg as a sentence read to a caller, or
// "" when it is one: a capital first, a full stop (or ? or !) last, at
// most 300 bytes, printable, and nothing of leaks.
func uncalm(msg string) string {
	first, _ := utf8.DecodeRuneInString(msg)
	switch {
	case msg == "":
		return "no message"
	case len(msg) > 300:
		return "longer than 300 bytes"
	case !unicode.IsUpper(first):
		return "does not start with a capital"
	case !slices.Contains([]byte(".?!"), msg[len(msg)-1]):
		return "does not end a sentence"
	case !utf8.ValidString(msg) || slices.ContainsFunc([]rune(msg), unicode.IsControl):
		return "holds control characters"
	}
	for _, re := range leaks {
		if m := re.FindString(msg); m != "" {
			return fmt.Sprintf("shows %q", m)
		}
	}
	return ""
}
