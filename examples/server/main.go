// Command server is the reference server of the resilience module: the
// backend of an AI receptionist that books appointments in each clinic's
// Google Calendar, texts patients through Twilio, keeps one clinic's outage
// away from the others and explains its health.
//
//	go run ./examples/server
//
// With no settings it runs in development mode: SQLite in ./resilience.db,
// in-process sandboxes of Google Calendar and Twilio, a random JWT secret,
// loopback only; it prints tokens and a walkthrough to paste into a shell.
// -h lists the settings of production mode. The server itself is in
// internal/app.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voxanne/resilience/examples/server/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil))
}

// run runs the server until ctx ends and returns the exit code: 0, 1 when
// it fails, 2 for bad settings. The log goes to stderr, the walkthrough to
// stdout. ready, if not nil, receives the App once it serves.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- *app.App) int {
	cfg, err := app.ParseArgs(args, getenv, stdout)
	if errors.Is(err, app.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	redis.SetLogger(app.RedisLog{Logger: cfg.Logger})
	a, err := app.New(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 1
	}
	if cfg.Dev {
		if err := printWalkthrough(stdout, a); err != nil {
			fmt.Fprintln(stderr, "server:", err)
			_ = a.Close()
			return 1
		}
	}
	if ready != nil {
		ready <- a
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 1
	}
	return 0
}

// walkthrough is what a developer pastes into a shell, line by line, after
// the export lines: README.md shows the same lines (a test keeps them
// equal, and another runs them).
const walkthrough = `curl -s $API/api/health/integrations
curl -s -X PUT -H "Authorization: Bearer $TOKEN" -d '{"name":"Sunrise Dental","phone":"+15550001111","timeZone":"Europe/London"}' $API/api/clinic
curl -s -L -H "Authorization: Bearer $TOKEN" $API/api/calendar/link
curl -s -H "Authorization: Bearer $TOKEN" -H 'Idempotency-Key: call-1' -d '{"start":"2030-01-15T09:00:00Z","patient":"Ada Lovelace","phone":"+15551234567"}' $API/api/appointments
curl -s -H "Authorization: Bearer $TOKEN" $API/api/appointments
curl -s -H "Authorization: Bearer $TOKEN" -d '{"vendor":"calendar","kind":"outage"}' $API/api/dev/faults
curl -s -H "Authorization: Bearer $TOKEN" -H 'Idempotency-Key: call-2' -d '{"start":"2030-01-15T10:00:00Z","patient":"Grace Hopper"}' $API/api/appointments
curl -s -H "Authorization: Bearer $STAFF" $API/api/health/integrations
curl -s -H "Authorization: Bearer $TOKEN" -d '{"vendor":"calendar","kind":"clear"}' $API/api/dev/faults
ORG=$(curl -s -H "Authorization: Bearer $TOKEN" $API/api/me | sed 's/.*"orgId":"\([^"]*\)".*/\1/')
curl -s -X POST -H "Authorization: Bearer $STAFF" $API/api/admin/breakers/calendar/$ORG/reset
curl -s -H "Authorization: Bearer $TOKEN" -H 'Idempotency-Key: call-2' -d '{"start":"2030-01-15T10:00:00Z","patient":"Grace Hopper"}' $API/api/appointments
curl -s -X DELETE -H "Authorization: Bearer $TOKEN" $API/api/appointments/call-1
curl -s $API/metrics | grep '^resilience_breaker_transitions_total'
`

// printWalkthrough prints the development tokens and the walkthrough.
func printWalkthrough(out io.Writer, a *app.App) error {
	user, err := a.DevToken("demo-user", "demo@example.com", "authenticated", 24*time.Hour)
	if err != nil {
		return err
	}
	staff, err := a.DevToken("demo-operator", "operator@example.com", app.DefaultStaffRole, 24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
Development mode: Google Calendar and Twilio are sandboxes inside this process, the
JWT secret is random for this run, and only this machine can connect (%[1]s).
Status page: %[1]s/   (operators: %[1]s/#token=<the STAFF token>)

Paste these lines into a shell, one at a time:

export API=%[1]s
export TOKEN=%[2]s
export STAFF=%[3]s
%[4]s
`, a.URL(), user, staff, strings.TrimRight(walkthrough, "\n"))
	return nil
}
