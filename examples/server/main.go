// Command server is the reference server of the resilience module: the
// tenant middleware on an embedded SQLite database (or PostgreSQL), a
// circuit breaker per clinic around a simulated calendar vendor, and the
// integrations health endpoint.
//
//	go run ./examples/server
//
// It prints a development token and the curl commands to try it.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// devSecret signs tokens when RESILIENCE_JWT_SECRET is not set. It is
// public: never use it beyond a laptop.
const devSecret = "resilience-dev-secret-do-not-use-in-production"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run starts the server and blocks until ctx is done. If ready is not nil
// it receives the listening address.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dsn := fs.String("db", "file:resilience.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)",
		"database: a SQLite file DSN, or a postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(out, nil))

	driver := "sqlite"
	if strings.HasPrefix(*dsn, "postgres://") || strings.HasPrefix(*dsn, "postgresql://") {
		driver = "pgx"
	}
	db, err := sql.Open(driver, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	secret, dev := []byte(os.Getenv("RESILIENCE_JWT_SECRET")), false
	if len(secret) == 0 {
		secret, dev = []byte(devSecret), true
	}
	srv, err := newServer(ctx, serverConfig{DB: db, JWTSecret: secret, Dev: dev, Logger: log})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("listening", "url", base, "driver", driver)
	if dev {
		token, err := devToken(secret, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, `
Development mode (RESILIENCE_JWT_SECRET is not set). Try:

  curl %[1]s/api/health/integrations
  curl -H 'Authorization: Bearer %[2]s' %[1]s/api/me
  curl -H 'Authorization: Bearer %[2]s' -H 'Idempotency-Key: call-1' \
       -d '{"start":"2026-12-01T09:00:00Z","patient":"Ada"}' %[1]s/api/appointments
  curl -d '{"count":6,"status":503}' %[1]s/api/dev/faults   # then book again: retries, then the breaker opens

`, base, token)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// devToken mints a Supabase-style token for a demo user who has no
// organisation yet: the first request provisions one.
func devToken(secret []byte, now time.Time) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":   "demo-user",
		"email": "demo@example.com",
		"role":  "authenticated",
		"aud":   "authenticated",
		"iat":   now.Unix(),
		"exp":   now.Add(24 * time.Hour).Unix(),
	}).SignedString(secret)
}
