// Command chaos runs the reference server through a seeded storm and checks
// what must hold whatever happens. It starts the server in-process against
// the sandbox vendors, signs clinics up and has their callers book, text,
// cancel and rebook at once, retrying with the same keys and sending
// concurrent duplicates, while a carrier delivers Twilio's status callbacks
// late, twice and out of order. After a fault-free baseline, a fault
// schedule drawn from the seed hits three of the clinics' vendors: 429s
// with Retry-After, 5xx, answers lost after the vendor acted, timeouts,
// connection resets, HTML pages, expired and revoked Google tokens, an
// outage of one clinic's number; the server is restarted twice and Redis,
// when the command runs its own, is killed and started again. Then the
// faults end, the callers retry what failed, and the run checks, from the
// fakes' records and the database:
//
//   - no double booking (events per key, live events per slot) and no
//     duplicate text (messages per key);
//   - no lost record: every event has its appointment, every create the
//     fake Twilio saw has its audit row, every message its SID in the
//     audit, every token Google issued or refused its audit row; the
//     calendar and the database agree; no text is left unsent; every
//     message ends in the status the carrier reported last;
//   - every request answered, each error with a calm sentence (no host,
//     code, stack trace or vendor text);
//   - the clinics without faults saw no failure, and their p99 latency
//     stayed within a bound of the baseline's;
//   - no goroutine outlived the run, and the heap stayed bounded.
//
// It prints the faults injected, the requests by outcome and the checks in
// one table, and exits 1 if a check fails; the seed reproduces the fault
// schedule and every caller's choices.
//
//	go run ./examples/server/chaos -duration 60s -seed 1 -database-url "$RESILIENCE_TEST_POSTGRES_URL"
//
// -database-url runs on PostgreSQL, in a schema of the run's own that is
// dropped at the end (default: a SQLite file in a temporary directory);
// the server restarts on the same database either way. -redis-server names
// the redis-server binary to run on a free port for the run (default:
// redis-server if it is installed; "" runs without Redis); the command
// never connects to any other Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(realMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// realMain runs the command and returns its exit code: 0 when every check
// holds, 1 when one fails or the run could not be made, 2 for bad flags.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	if o.logPath != "" {
		f, err := os.Create(o.logPath)
		if err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 1
		}
		defer f.Close()
		o.log = f
	}
	rep, err := run(ctx, o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 1
	}
	if !rep.ok() {
		fmt.Fprintf(stderr, "chaos: %d checks failed; to reproduce: %s\n", rep.failed(), o.command())
		return 1
	}
	return 0
}

// options are the command's flags.
type options struct {
	duration time.Duration
	seed     uint64
	// clinics is how many clinics take calls: three meet faults (one
	// with random vendor faults, one whose Google grant expires and is
	// revoked, one whose number has an outage), the rest none.
	clinics int
	// callers is how many callers each clinic has at once.
	callers     int
	databaseURL string
	// ownSchema runs a PostgreSQL databaseURL in a schema created for the
	// run and dropped after it.
	ownSchema   bool
	redisServer string
	restarts    int
	logPath     string
	// log receives the server's warnings and errors (nil: none).
	log io.Writer
}

// Bounds of the flags: a run is bounded in time, clinics and callers.
const (
	minDuration = 10 * time.Second
	maxDuration = 10 * time.Minute
	maxClinics  = 64
	maxCallers  = 32
	maxRestarts = 10
	// faultyClinics is how many clinics meet faults.
	faultyClinics = 3
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{ownSchema: true}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 60*time.Second,
		"length of the run: a fifth fault-free baseline, three fifths of faults, then up to a fifth (at least 10s) to settle")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the fault schedule and of the callers' choices")
	fs.IntVar(&o.clinics, "clinics", 6, "clinics taking calls; three meet faults, the rest none")
	fs.IntVar(&o.callers, "callers", 3, "concurrent callers per clinic")
	fs.StringVar(&o.databaseURL, "database-url", "", "postgres:// URL to run on, in a schema of the run's own (default: SQLite in a temporary directory)")
	defaultRedis := ""
	if p, err := exec.LookPath("redis-server"); err == nil {
		defaultRedis = p
	}
	fs.StringVar(&o.redisServer, "redis-server", defaultRedis, "redis-server binary to run (and kill) for the run on a free port; \"\" for none")
	fs.IntVar(&o.restarts, "restarts", 2, "server restarts during the faults")
	fs.StringVar(&o.logPath, "log", "", "file for the server's warnings and errors")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, o.validate()
}

func (o options) validate() error {
	switch {
	case o.duration < minDuration || o.duration > maxDuration:
		return fmt.Errorf("-duration %v: want %v to %v", o.duration, minDuration, maxDuration)
	case o.clinics <= faultyClinics || o.clinics > maxClinics:
		return fmt.Errorf("-clinics %d: want %d to %d (three meet faults, at least one none)", o.clinics, faultyClinics+1, maxClinics)
	case o.callers < 1 || o.callers > maxCallers:
		return fmt.Errorf("-callers %d: want 1 to %d", o.callers, maxCallers)
	case o.restarts < 0 || o.restarts > maxRestarts:
		return fmt.Errorf("-restarts %d: want 0 to %d", o.restarts, maxRestarts)
	case o.databaseURL != "" && !strings.HasPrefix(o.databaseURL, "postgres://") && !strings.HasPrefix(o.databaseURL, "postgresql://"):
		return errors.New("-database-url: want a postgres:// URL (without it the run uses SQLite)")
	}
	return nil
}

// command is the command line that reruns o, with the database URL's
// credentials left out.
func (o options) command() string {
	s := fmt.Sprintf("go run ./examples/server/chaos -duration %v -seed %d -clinics %d -callers %d -restarts %d",
		o.duration, o.seed, o.clinics, o.callers, o.restarts)
	if o.databaseURL != "" {
		s += ` -database-url "$RESILIENCE_TEST_POSTGRES_URL"`
	}
	if o.redisServer == "" {
		s += ` -redis-server ""`
	}
	return s
}
