package gcaltest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"time"
)

// Op names an endpoint of the Server.
type Op string

// The endpoints of the Server.
const (
	OpInsert   Op = "events.insert"
	OpGet      Op = "events.get"
	OpDelete   Op = "events.delete"
	OpList     Op = "events.list"
	OpFreeBusy Op = "freebusy.query"
	OpToken    Op = "oauth.token"   // authorization_code and refresh_token grants
	OpConsent  Op = "oauth.consent" // the consent screen
	OpRevoke   Op = "oauth.revoke"
)

// calendarOp reports whether op is an endpoint of the Calendar API.
func calendarOp(op Op) bool {
	switch op {
	case OpInsert, OpGet, OpDelete, OpList, OpFreeBusy:
		return true
	}
	return false
}

// Fault is a scripted failure, applied to the next requests it matches.
//
// A fault with a Status answers with that status and an error body in the
// endpoint's format: Google's JSON error for the Calendar API, an OAuth
// error ({"error": Reason, "error_description": Message}) for the token and
// revocation endpoints. Drop closes the connection without an answer
// instead. Commit performs the request first and then fails it (or, with
// neither Status nor Drop, answers it after Delay): the answer of a
// committed request is lost. A fault with only a Delay slows the request
// down and then serves it, even when the client has given up meanwhile,
// as a slow server may; a Delay with a Status performs nothing. At the
// consent endpoint a Reason without a Status is an OAuth error
// ("access_denied") sent back to the redirect URI.
type Fault struct {
	// Op is the endpoint the fault applies to; "" means any Calendar API
	// request (not the OAuth endpoints).
	Op Op
	// Status is the HTTP status of the answer.
	Status int
	// Reason is Google's reason (errors[0].reason), such as
	// "rateLimitExceeded"; for the OAuth endpoints, the OAuth error code,
	// such as "invalid_grant". Empty means the usual one for Status.
	Reason string
	// Message is the error message; empty means a usual one.
	Message string
	// RetryAfter is the value of the Retry-After header, if any: seconds
	// ("30") or an HTTP-date.
	RetryAfter string
	// Delay is how long the server waits before answering (after
	// performing the request, with Commit). The wait ends early if the
	// client gives up.
	Delay time.Duration
	// Commit performs the request before failing it.
	Commit bool
	// Drop closes the connection instead of answering.
	Drop bool
	// Times is how many requests the fault applies to: 0 means 1, a
	// negative number means every matching request until ClearFaults.
	Times int
	// Account, if set, limits the fault to requests made for that Google
	// account: those carrying one of its access tokens, refresh tokens or
	// authorization codes, and, at the consent endpoint, its consent. It
	// scripts an outage of one customer of a multi-tenant service.
	Account string
}

// fails reports whether f replaces the answer (rather than only delaying it).
func (f *Fault) fails() bool { return f.Status != 0 || f.Drop }

// Fail queues f. Faults apply in the order they were queued, each to the
// next requests of its Op.
func (s *Server) Fail(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// ClearAccountFaults drops the queued faults of one account (those whose
// Account is account), ending that customer's scripted outage.
func (s *Server) ClearAccountFaults(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.faults[:0]
	for _, f := range s.faults {
		if f.Account != account {
			kept = append(kept, f)
		}
	}
	clear(s.faults[len(kept):])
	s.faults = kept
}

// takeFault returns a copy of the first queued fault that applies to op
// made for account, using it up once, or nil.
func (s *Server) takeFault(op Op, account string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Op != op && (f.Op != "" || !calendarOp(op)) {
			continue
		}
		if f.Account != "" && f.Account != account {
			continue
		}
		c := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &c
	}
	return nil
}

// serve wraps the handler of op with faults and the request log.
func (s *Server) serve(op Op, h func(w http.ResponseWriter, r *http.Request, rec *Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := Request{
			Op:          op,
			Method:      r.Method,
			Path:        r.URL.Path,
			CalendarID:  r.PathValue("calendarId"),
			EventID:     r.PathValue("eventId"),
			AccessToken: bearer(r),
			At:          s.now(),
		}
		if err := bufferBody(r); err != nil {
			writeAPIError(w, http.StatusBadRequest, "badRequest", "Unreadable request body.", "")
			return
		}
		if op == OpToken {
			rec.Grant = r.PostFormValue("grant_type")
		}
		rec.Account = s.requestAccount(op, r)
		f := s.takeFault(op, rec.Account)
		rec.fault = f
		sw := &statusWriter{ResponseWriter: w}
		switch {
		case f == nil:
			h(sw, r, &rec)
		case f.Commit:
			rr := httptest.NewRecorder()
			h(rr, r, &rec)
			sleep(r.Context(), f.Delay)
			if !f.fails() {
				copyRecorded(sw, rr)
			}
		default:
			sleep(r.Context(), f.Delay)
			if !f.fails() {
				h(sw, r, &rec)
			}
		}
		rec.Faulted = f != nil
		if f != nil && f.fails() {
			rec.Status = f.Status
			s.record(rec)
			if f.Drop {
				panic(http.ErrAbortHandler) // closes the connection unanswered
			}
			s.writeFault(w, op, f)
			return
		}
		rec.Status = sw.status()
		s.record(rec)
	})
}

// requestAccount returns the Google account a request is made for, as far
// as its credentials tell before it is served, or "".
func (s *Server) requestAccount(op Op, r *http.Request) string {
	if op == OpConsent {
		return s.consentAccount(r.URL.Query())
	}
	tok := bearer(r)
	if op == OpToken || op == OpRevoke {
		if err := r.ParseForm(); err != nil {
			return ""
		}
		tok = r.PostForm.Get("refresh_token") + r.PostForm.Get("token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.codes[r.PostForm.Get("code")]; ok && op == OpToken {
		return c.account
	}
	if at, ok := s.access[tok]; ok {
		return at.account
	}
	if g, ok := s.grants[tok]; ok {
		return g.account
	}
	return ""
}

// maxBody bounds the request bodies the server reads.
const maxBody = 1 << 20

// bufferBody reads the request body into memory first, as Google's front
// ends do: the server then notices a client that gives up while it waits.
func bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

// writeFault answers with f in the endpoint's error format.
func (s *Server) writeFault(w http.ResponseWriter, op Op, f *Fault) {
	switch op {
	case OpToken, OpRevoke, OpConsent:
		code := f.Reason
		if code == "" {
			code = oauthErrorFor(f.Status)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeOAuthError(w, f.Status, code, f.Message)
	default:
		writeAPIError(w, f.Status, f.Reason, f.Message, f.RetryAfter)
	}
}

// oauthErrorFor is the OAuth error code a token endpoint gives with status.
func oauthErrorFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request"
}

// statusWriter remembers the status of the answer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// copyRecorded sends the answer recorded in rr.
func copyRecorded(w http.ResponseWriter, rr *httptest.ResponseRecorder) {
	for k, v := range rr.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rr.Code)
	_, _ = w.Write(rr.Body.Bytes())
}
