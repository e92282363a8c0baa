package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/voxanne/resilience/tenant"
)

// reqInfo is what the access log learns of a request as it is served.
type reqInfo struct {
	id  string
	org string
}

type reqInfoKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// requestID is the caller's X-Request-Id when it is short and plain, or a
// new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && plainID(id) {
		return id
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func plainID(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status and size of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serve is the outermost layer: a request id, a JSON 500 for a panic, the
// access log and the request metrics. Unmatched requests get a JSON 404 or
// 405.
func (a *App) serve(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: requestID(r)}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
		w.Header().Set("X-Request-Id", ri.id)
		rec := &statusRecorder{ResponseWriter: w}
		route := "unmatched"
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("handler panicked", "request", ri.id, "route", route, "panic", slog.AnyValue(p).Kind().String())
				if rec.status == 0 {
					writeError(rec, r, http.StatusInternalServerError, "internal", "Something went wrong on our side. Please try again.")
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			a.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			a.metrics.requestDuration.WithLabelValues(route, r.Method).Observe(d.Seconds())
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			a.log.LogAttrs(r.Context(), level, "request", slog.String("request", ri.id), slog.String("method", r.Method),
				slog.String("route", route), slog.Int("status", status), slog.Float64("ms", float64(d.Microseconds())/1000),
				slog.String("org", ri.org), slog.Int("bytes", rec.bytes))
		}()
		h, pattern := mux.Handler(r)
		if pattern == "" {
			unmatched(rec, r, h)
			return
		}
		route = pattern
		mux.ServeHTTP(rec, r)
	})
}

// unmatched answers a request no route takes with the mux's status (404,
// or 405 with Allow) in JSON.
func unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &headerOnly{header: make(http.Header)}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if probe.status == http.StatusMethodNotAllowed {
		writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "That method is not allowed here.")
		return
	}
	writeError(w, r, http.StatusNotFound, "not_found", "There is nothing at this address.")
}

// headerOnly records the status and headers a handler writes.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(code int)        { h.status = code }

// apiError is the body of every error answer: a stable code, a message
// that can be read to a person, and the request id to quote to support.
type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	// Field names the body field at fault, for 400s.
	Field string `json:"field,omitempty"`
	// RetryAfterSeconds is when to try again, for 503s.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// NextFreeSlot is offered with a busy slot.
	NextFreeSlot *slot `json:"nextFreeSlot,omitempty"`
}

type slot struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeAPIError(w, r, status, apiError{Code: code, Message: message})
}

func writeAPIError(w http.ResponseWriter, r *http.Request, status int, e apiError) {
	e.RequestID = infoOf(r.Context()).id
	if e.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal","message":"Something went wrong on our side."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// retryAfterSeconds rounds a wait up to whole seconds within [1s, 1h]:
// a wait too long to encode (or negative) never reaches a header.
func retryAfterSeconds(d time.Duration) int {
	const maxWait = time.Hour
	if d <= 0 {
		return 1
	}
	if d >= maxWait {
		return int(maxWait / time.Second)
	}
	return int((d + time.Second - 1) / time.Second)
}

// refuseEarly marks an answer given before the request's body was read:
// the connection is closed after it instead of waiting for the rest of the
// body, which net/http would otherwise read (up to 256 KiB, however slowly
// it trickles) before the answer, or at least before closing.
func refuseEarly(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// authMessages are the messages of the tenant middleware's refusals.
var authMessages = map[string]string{
	tenant.CodeMissingToken:   "Please sign in: this request needs an access token.",
	tenant.CodeInvalidToken:   "Your sign-in is not valid. Please sign in again.",
	tenant.CodeTokenExpired:   "Your sign-in has expired. Please sign in again.",
	tenant.CodeNoOrganization: "Your account is not part of a clinic yet.",
	tenant.CodeNotMember:      "Your account is no longer part of that clinic.",
	tenant.CodeAnonymous:      "Please sign in with an account.",
	tenant.CodeUnavailable:    "We can't check your sign-in right now. Please try again in a moment.",
	tenant.CodeInternal:       "Something went wrong on our side. Please try again.",
}

// authError answers a request the tenant middleware refused, before its
// body is read.
func (a *App) authError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := tenant.StatusOf(err)
	if code == tenant.CodeInvalidToken && isExpired(err) {
		code = tenant.CodeTokenExpired
	}
	refuseEarly(w, r)
	e := apiError{Code: code, Message: authMessages[code]}
	if e.Message == "" {
		e.Message = authMessages[tenant.CodeInternal]
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	case http.StatusServiceUnavailable:
		e.RetryAfterSeconds = 5
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	a.log.Log(r.Context(), level, "request refused", "request", infoOf(r.Context()).id, "status", status, "code", code, "reason", err.Error())
	writeAPIError(w, r, status, e)
}
