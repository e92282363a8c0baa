package redisstore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/breaker/redisstore"
)

// childEnv, set to a key prefix, makes the test binary run as the second
// process of TestTwoProcessesShareOpenCircuits.
const childEnv = "REDISSTORE_TEST_CHILD_PREFIX"

// TestMain runs the child process of TestTwoProcessesShareOpenCircuits
// when asked to, and otherwise the tests, failing them if any goroutine
// outlives them.
func TestMain(m *testing.M) {
	if prefix := os.Getenv(childEnv); prefix != "" {
		os.Exit(child(prefix, os.Stdin, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}

// child is an instance of a service in a process of its own. It answers
// the commands read from in, one a line, until in ends:
//
//	trip KEY       trips KEY and answers "tripped KEY" once it is in Redis
//	wait-open KEY  answers "open KEY" when its breaker for KEY rejects,
//	               within a second, or "closed KEY"
func child(prefix string, in io.Reader, out io.Writer) int {
	opt, err := redis.ParseURL(os.Getenv(redisURLEnv))
	if err != nil {
		fmt.Fprintln(out, "error", err)
		return 1
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	store := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	reg := breaker.NewRegistry[string](breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Minute, Store: store})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = store.Watch(ctx, reg.Sync) }()
	for !store.Stats().Reachable {
		time.Sleep(time.Millisecond)
	}
	fmt.Fprintln(out, "ready")
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		cmd, key, _ := strings.Cut(lines.Text(), " ")
		switch cmd {
		case "trip":
			want := store.Stats().Published + 1
			done, err := reg.Get(key).Allow()
			if err == nil {
				done(fmt.Errorf("vendor down"))
			}
			for store.Stats().Published < want {
				time.Sleep(time.Millisecond)
			}
			fmt.Fprintln(out, "tripped", key)
		case "wait-open":
			state := "closed"
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if _, err := reg.Get(key).Allow(); err != nil {
					state = "open"
					break
				}
			}
			fmt.Fprintln(out, state, key)
		}
	}
	return 0
}

// Two OS processes share one Redis: a circuit opened in either is rejected
// by the other within a second.
func TestTwoProcessesShareOpenCircuits(t *testing.T) {
	opt := sharedRedis(t)
	prefix := uniquePrefix(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+prefix)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	answers := make(chan string)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			answers <- lines.Text()
		}
		close(answers)
		exited <- cmd.Wait()
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-answers:
			require.Equal(t, want, got)
		case <-time.After(10 * time.Second):
			t.Fatalf("the child did not answer %q", want)
		}
	}
	expect("ready")

	p := newInstance(t, opt, prefix, breaker.Settings{ConsecutiveFailures: 1, Cooldown: time.Minute})
	p.waitReachable(t)
	pa := p.reg.Get("clinic-a")
	_, err = io.WriteString(stdin, "trip clinic-a\n")
	require.NoError(t, err)
	expect("tripped clinic-a")
	d := eventually(t, time.Second, func() bool { return pa.State() == breaker.Open }, "the parent rejects what the child opened")
	t.Logf("the parent rejects %v after the child published", d)

	trip(t, p.reg.Get("clinic-b"))
	_, err = io.WriteString(stdin, "wait-open clinic-b\nwait-open clinic-c\n")
	require.NoError(t, err)
	expect("open clinic-b")
	expect("closed clinic-c")

	require.NoError(t, stdin.Close())
	select {
	case _, ok := <-answers:
		assert.False(t, ok, "no more answers")
	case <-time.After(5 * time.Second):
		t.Fatal("the child did not exit")
	}
	assert.NoError(t, <-exited)
	exited <- nil // for the cleanup
}
