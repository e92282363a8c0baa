package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voxanne/resilience/examples/server/internal/store"
)

// database is where the run keeps its records: a PostgreSQL schema of its
// own or a SQLite file in a temporary directory.
type database struct {
	url     string
	dialect string // "PostgreSQL" or "SQLite"
	cleanup func() error
}

// openDatabase prepares the run's database: a new schema on the
// PostgreSQL of rawURL (with ownSchema), rawURL as it is, or a SQLite file.
func openDatabase(ctx context.Context, rawURL string, ownSchema bool) (*database, error) {
	if rawURL == "" {
		dir, err := os.MkdirTemp("", "resilience-chaos-")
		if err != nil {
			return nil, err
		}
		return &database{url: store.SQLiteDSN(filepath.Join(dir, "chaos.db")), dialect: "SQLite",
			cleanup: func() error { return os.RemoveAll(dir) }}, nil
	}
	if !ownSchema {
		return &database{url: rawURL, dialect: "PostgreSQL", cleanup: func() error { return nil }}, nil
	}
	admin, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, err
	}
	schema := "chaos_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("-database-url: create schema: %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		_ = admin.Close()
		return nil, errors.New("-database-url: not a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return &database{url: u.String(), dialect: "PostgreSQL", cleanup: func() error {
		defer admin.Close()
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		return err
	}}, nil
}

// redisProcess is a redis-server of the run's own, on a free loopback
// port, without persistence: the only Redis the run kills.
type redisProcess struct {
	bin  string
	port int
	cmd  *exec.Cmd
}

// startRedis starts bin on a free port.
func startRedis(ctx context.Context, bin string) (*redisProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &redisProcess{bin: bin, port: port}
	return p, p.start(ctx)
}

// URL is the server's redis:// URL.
func (p *redisProcess) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(p.port) + "/0" }

// running reports whether the process runs.
func (p *redisProcess) running() bool { return p.cmd != nil }

// start runs the server on its port and waits until it answers.
func (p *redisProcess) start(ctx context.Context) error {
	p.cmd = exec.Command(p.bin, "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		return fmt.Errorf("redis-server: %w", err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.kill()
			return fmt.Errorf("redis-server on port %d did not answer", p.port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// kill ends the server with SIGKILL, by its PID, and waits for it.
func (p *redisProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
