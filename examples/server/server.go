package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/health"
	"github.com/voxanne/resilience/safecall"
	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

// server is the reference assembly: verified tenants, a breaker per clinic,
// resilient vendor calls and an integrations health endpoint.
type server struct {
	log      *slog.Logger
	calendar *simCalendar
	breakers *breaker.Registry[string]
	callOpts []safecall.Option
	dev      bool
	handler  http.Handler
}

// serverConfig is what newServer needs; zero fields take the defaults.
type serverConfig struct {
	DB        *sql.DB
	JWTSecret []byte
	// Dev enables POST /api/dev/faults, to script the simulated vendor.
	Dev bool
	// CallOptions are added to every vendor call (tests shorten backoffs).
	CallOptions []safecall.Option
	Logger      *slog.Logger
}

func newServer(ctx context.Context, cfg serverConfig) (*server, error) {
	store, err := sqlstore.New(cfg.DB)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{
		log:      log,
		calendar: newSimCalendar(),
		breakers: breaker.NewRegistry[string](breaker.Settings{
			Cooldown:    10 * time.Second,
			MaxCooldown: 2 * time.Minute,
			OnStateChange: func(t breaker.Transition) {
				log.Warn("calendar breaker", "org", t.Key, "from", t.From.String(), "to", t.To.String())
			},
		}),
		callOpts: cfg.CallOptions,
		dev:      cfg.Dev,
	}

	checks := health.New([]health.Check{
		health.SQL("Database", cfg.DB, health.AsCritical()),
		health.Breakers("Calendar", s.breakers,
			health.WithRecommendation("Calendar calls are failing for some clinics; callers are told to try again shortly")),
	}, health.WithLogger(log))

	verifier, err := tenant.HS256(cfg.JWTSecret)
	if err != nil {
		return nil, err
	}
	auth := tenant.Middleware(verifier,
		tenant.WithDirectory(store), tenant.WithProvisioner(store), tenant.WithLogger(log))

	mux := http.NewServeMux()
	mux.Handle("GET /livez", checks.Live())
	mux.Handle("GET /readyz", checks.Ready())
	mux.Handle("GET /api/health/integrations", checks)
	mux.Handle("GET /api/me", auth(http.HandlerFunc(s.me)))
	mux.Handle("POST /api/appointments", auth(http.HandlerFunc(s.book)))
	if cfg.Dev {
		mux.HandleFunc("POST /api/dev/faults", s.faults)
	}
	s.handler = mux
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{
		"userId": t.UserID, "orgId": t.OrgID, "email": t.Email, "role": t.Role, "source": t.Source.String(),
	})
}

type bookRequest struct {
	Start   time.Time `json:"start"`
	Patient string    `json:"patient"`
}

// book books an appointment in the calling clinic's calendar. The
// Idempotency-Key header makes retries (ours and the client's) safe.
func (s *server) book(w http.ResponseWriter, r *http.Request) {
	t, _ := tenant.FromContext(r.Context())
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 200 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "an Idempotency-Key header (at most 200 characters) is required"})
		return
	}
	var req bookRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: want {\"start\": RFC 3339 time, \"patient\": name}"})
		return
	}
	if req.Start.IsZero() || strings.TrimSpace(req.Patient) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "start and patient are required"})
		return
	}

	opts := append([]safecall.Option{
		safecall.WithBreaker(s.breakers.Get(t.OrgID)),
		safecall.WithAttemptTimeout(5 * time.Second),
		safecall.WithOnRetry(func(e safecall.RetryEvent) {
			s.log.Info("retrying calendar call", "org", t.OrgID, "attempt", e.Attempt, "class", e.Class.String(), "wait", e.Wait)
		}),
	}, s.callOpts...)
	appt, err := safecall.Call(r.Context(), "calendar.book", func(ctx context.Context) (appointment, error) {
		return s.calendar.Book(ctx, t.OrgID, key, req.Start, req.Patient)
	}, opts...)
	if err != nil {
		s.bookFailed(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, appt)
}

func (s *server) bookFailed(w http.ResponseWriter, err error) {
	body := map[string]any{"message": safecall.UserMessage(err), "class": safecall.ClassOf(err).String()}
	status := http.StatusServiceUnavailable
	var se *safecall.Error
	if errors.As(err, &se) {
		body["attempts"] = se.Attempts
		if se.RetryAfter > 0 {
			secs := int((se.RetryAfter + time.Second - 1) / time.Second)
			body["retryAfterSeconds"] = secs
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
	}
	switch safecall.ClassOf(err) {
	case safecall.Permanent:
		status = http.StatusBadGateway
	case safecall.Canceled:
		status = 499 // the client went away; nobody reads this
	}
	writeJSON(w, status, body)
}

type faultRequest struct {
	Count             int `json:"count"`
	Status            int `json:"status"`
	RetryAfterSeconds int `json:"retryAfterSeconds"`
}

// faults scripts the simulated calendar (dev mode only).
func (s *server) faults(w http.ResponseWriter, r *http.Request) {
	var req faultRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil ||
		req.Count < 1 || req.Count > 1000 || req.Status < 400 || req.Status > 599 || req.RetryAfterSeconds < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"count": 1..1000, "status": 400..599, "retryAfterSeconds": n}`})
		return
	}
	s.calendar.Fail(req.Count, fault{Status: req.Status, RetryAfter: time.Duration(req.RetryAfterSeconds) * time.Second})
	writeJSON(w, http.StatusAccepted, req)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
