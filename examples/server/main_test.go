package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/examples/server/internal/app"
	"github.com/voxanne/resilience/internal/testenv"
)

func noEnv(string) string { return "" }

func TestHelpExitsZero(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run(t.Context(), []string{"-h"}, noEnv, &out, &errOut, nil))
	assert.Contains(t, out.String(), "DATABASE_URL")
	assert.Empty(t, errOut.String())
}

func TestBadSettingStopsWithOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{nil, map[string]string{"JWT_SECRET": "q7Zx9"}, 2, "server: JWT_SECRET: too short (5 bytes; at least 32)\n"},
		{[]string{"-addr", "0.0.0.0:8080"}, nil, 2, "server: dev mode listens on loopback only: "},
		{[]string{"-addr", "127.0.0.1:0", "-database-url", "mysql://db"}, nil, 1, "server: DATABASE_URL: want a postgres:// URL or a SQLite file, not a mysql URL\n"},
	} {
		t.Chdir(t.TempDir())
		var out, errOut bytes.Buffer
		code := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &out, &errOut, nil)
		assert.Equal(t, tc.code, code, tc.want)
		assert.True(t, strings.HasPrefix(errOut.String(), tc.want), errOut.String())
		assert.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line: %q", errOut.String())
	}
}

// TestWalkthroughPastedIntoAShell runs the server as `go run` would and
// pastes what it prints into one bash, line by line, as README.md tells a
// new user to.
func TestWalkthroughPastedIntoAShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("RESILIENCE_TEST_REQUIRE_SERVERS") == "1" {
			t.Fatal("curl is needed to paste the walkthrough")
		}
		t.Skip("no curl")
	}
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	out, logs := &testenv.Buffer{}, &testenv.Buffer{}
	ready := make(chan *app.App, 1)
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, noEnv, out, logs, ready) }()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("exit %d: %s", code, logs.String())
	}
	defer func() {
		cancel()
		assert.Equal(t, 0, <-done)
		if t.Failed() {
			t.Log(logs.String())
		}
	}()

	printed := out.String()
	i := strings.Index(printed, "export API=")
	require.GreaterOrEqual(t, i, 0, printed)
	script := printed[i:]
	require.Contains(t, script, strings.TrimRight(walkthrough, "\n"))

	// One shell, fed one line at a time; each answer is kept apart.
	cmd := exec.CommandContext(ctx, bash, "--norc", "--noprofile")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	require.NoError(t, cmd.Start())
	outLines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			outLines <- sc.Text()
		}
		close(outLines)
	}()
	const mark = "@@END@@"
	var answers []string
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		_, err := stdin.Write([]byte(line + "\necho; echo " + mark + "\n"))
		require.NoError(t, err)
		var answer []string
		timeout := time.After(15 * time.Second)
	read:
		for {
			select {
			case l, ok := <-outLines:
				require.True(t, ok, "the shell ended")
				if l == mark {
					break read
				}
				answer = append(answer, l)
			case <-timeout:
				t.Fatalf("no answer to %q", line)
			}
		}
		answers = append(answers, strings.TrimSpace(strings.Join(answer, "\n")))
	}
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	_ = pw.Close()

	// What each line of the walkthrough answers, in order.
	expect := []string{
		`^\{"status":"healthy"`,
		`"name":"Sunrise Dental".*"calendar":"not_linked"`,
		`^\{"message":"Your Google Calendar is linked. You can close this window.","status":"linked"\}$`,
		`"status":"booked".*"text":\{"key":"appointment/call-1/confirmation","status":"queued".*"message":"You're booked for Tuesday 15 January at 09:00. A confirmation text is on its way."`,
		`"appointments":\[\{"key":"call-1","status":"booked"`,
		`"kind":"outage"`,
		`^\{"code":"vendor_unavailable","message":"That service is temporarily unavailable. Please try again in a few minutes.","requestId":"[0-9a-f]{16}","retryAfterSeconds":30\}$`,
		`^\{"status":"degraded".*"name":"Calendar circuit breakers","status":"degraded".*"details"`,
		`"kind":"clear"`,
		`^$`,
		`"state":"closed","vendor":"calendar","was":"open"`,
		`"key":"call-2","status":"booked"`,
		`"key":"call-1","status":"cancelled".*"text":\{"key":"appointment/call-1/cancellation"`,
		`(?s)from="closed",to="open",vendor="calendar"\} 1.*from="open",to="closed",vendor="calendar"\} 1`,
	}
	walk := strings.Split(strings.TrimRight(walkthrough, "\n"), "\n")
	require.Len(t, expect, len(walk), "one expectation per line")
	require.Len(t, answers, 3+len(walk), "three export lines, then the walkthrough")
	for i, re := range expect {
		assert.Regexp(t, regexp.MustCompile(re), answers[3+i], walk[i])
	}
}

// TestReadmeShowsTheWalkthrough keeps README.md's walkthrough equal to the
// one the server prints.
func TestReadmeShowsTheWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, want := range []string{walkthrough, "go run ./examples/server\n", "go vet ./... && go test -race ./...\n"} {
		assert.True(t, strings.Contains(string(readme), want), "README.md shows, verbatim:\n%s", want)
	}
}
