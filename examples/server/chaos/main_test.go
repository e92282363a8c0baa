package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/voxanne/resilience/internal/testenv"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ciSeed and ciDuration are the chaos run of CI: short, and always the
// same schedule.
const (
	ciSeed     = 20261126
	ciDuration = 20 * time.Second
)

// TestChaosRun runs the chaos command's run for a fixed seed: on
// PostgreSQL (RESILIENCE_TEST_POSTGRES_URL, in a schema of its own) with a
// redis-server of its own that it kills and starts again. Without them it
// runs on SQLite and without Redis, unless RESILIENCE_TEST_REQUIRE_SERVERS=1
// makes it fail. Every check of the report must hold, and every kind of
// fault must have been injected.
func TestChaosRun(t *testing.T) {
	o := options{duration: ciDuration, seed: ciSeed, clinics: 5, callers: 2, restarts: 2}
	if os.Getenv(testenv.PostgresURLEnv) != "" || os.Getenv(testenv.RequireServersEnv) == "1" {
		o.databaseURL = testenv.Postgres(t) // a schema of the test's own
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		o.redisServer = bin
	} else if os.Getenv(testenv.RequireServersEnv) == "1" {
		t.Fatalf("redis-server is not installed and %s=1", testenv.RequireServersEnv)
	}
	logPath := filepath.Join(t.TempDir(), "server.log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	defer f.Close()
	o.log = f

	var out bytes.Buffer
	rep, err := run(t.Context(), o, &out)
	t.Logf("\n%s", out.String())
	require.NoError(t, err)
	if !rep.ok() {
		if b, err := os.ReadFile(logPath); err == nil {
			t.Logf("the server's warnings and errors, last lines:\n%s", lastLines(string(b), 60))
		}
		t.Fatalf("%d checks failed (seed %d)", rep.failed(), o.seed)
	}
	for k := range kinds {
		if k == redisKill && o.redisServer == "" {
			continue
		}
		assert.Positive(t, rep.injected[k], "faults of kind %q", k)
	}
	assert.Equal(t, o.restarts, rep.injected[serverRestart])
	assert.Positive(t, rep.faultedCalendar)
	assert.Positive(t, rep.faultedSMS)
	assert.Positive(t, rep.relinks, "the revoked clinic linked its calendar again")
	c := rep.carrier
	for name, n := range map[string]int{"twice": c.duplicates, "out of order": c.reordered, "late": c.late, "early": c.early} {
		assert.Positive(t, n, "callbacks %s", name)
	}
	assert.Positive(t, rep.counts[true][answeredOK], "the clinics without faults booked")
	assert.Positive(t, rep.counts[false][unavailable], "the clinics with faults were told to try later")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func TestFlagsRefuseUnboundedRuns(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "1h"},
		{"-duration", "1s"},
		{"-clinics", "3"},
		{"-clinics", "1000"},
		{"-callers", "0"},
		{"-restarts", "-1"},
		{"-database-url", "mysql://db"},
		{"extra"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, args)
	}
	o, err := parseFlags([]string{"-duration", "30s", "-seed", "7", "-redis-server", ""}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, o.duration)
	assert.Equal(t, uint64(7), o.seed)
	assert.Equal(t, `go run ./examples/server/chaos -duration 30s -seed 7 -clinics 6 -callers 3 -restarts 2 -redis-server ""`, o.command())
}

func TestBadFlagsExitTwo(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, realMain(t.Context(), []string{"-clinics", "2"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "-clinics 2: want 4 to 64")
	assert.Empty(t, out.String())
}

func TestCalmSentences(t *testing.T) {
	for msg, want := range map[string]string{
		"That system is very busy right now. Please try again in a minute.":             "",
		"That time is already taken. The next free time is Monday 7 December at 17:30.": "",
		"":                                    "no message",
		"the calendar is down.":               "does not start with a capital",
		"Try again":                           "does not end a sentence",
		"Calendar said 503.":                  `shows "503"`,
		"Twilio error 21211 for that number.": `shows "21211"`,
		"Could not reach 127.0.0.1:8080.":     `shows "127.0.0.1"`,
		"Could not reach calendar.googleapis.com.":     `shows "calendar.googleapis.com"`,
		"Post https://api.twilio.com failed.":          `shows "https://"`,
		"Something failed: context deadline exceeded.": `shows "deadline exceeded"`,
		"Panic in handler.":                            `shows "Panic"`,
		"Line one.\nLine two.":                         "holds control characters",
	} {
		assert.Equal(t, want, uncalm(msg), msg)
	}
}
