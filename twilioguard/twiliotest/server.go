package twiliotest

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Credentials a Server accepts unless WithCredentials says otherwise. Both
// are well-formed (an Account SID is "AC" and 32 hex digits) and public:
// they open nothing but a fake.
const (
	DefaultAccountSID = "AC00000000000000000000000000000001"
	DefaultAuthToken  = "0123456789abcdef0123456789abcdef"
)

// apiVersion is the version of Twilio's REST API the fake speaks.
const apiVersion = "2010-04-01"

// Server is a fake of Twilio's Messages API (create, fetch and list
// messages) listening on a local port. It is safe for concurrent use.
type Server struct {
	// URL is the base URL of the fake, such as "http://127.0.0.1:43210":
	// give it to twilioguard.Config.BaseURL, or point twilio-go at it.
	URL string
	// AccountSID and AuthToken are the credentials the fake accepts (HTTP
	// Basic auth) and signs status callbacks with.
	AccountSID string
	AuthToken  string

	srv       *httptest.Server
	now       func() time.Time
	pageSize  int
	callbacks *http.Client
	lifecycle lifecycle

	mu       sync.Mutex
	messages []*message          // in creation order
	bySID    map[string]*message // by SID
	seq      int                 // SIDs issued
	faults   map[string][]*Fault // scripted faults by sender, in order
	log      []*Request

	wg     sync.WaitGroup  // lifecycle goroutines
	ctx    context.Context // done once Close is called
	cancel context.CancelFunc
}

// Option configures a Server.
type Option func(*Server)

// WithCredentials sets the Account SID and Auth Token the fake accepts.
func WithCredentials(accountSID, authToken string) Option {
	return func(s *Server) { s.AccountSID, s.AuthToken = accountSID, authToken }
}

// WithClock sets the clock that dates messages and filters lists (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// WithPageSize sets the page size of lists that ask for none (Twilio's
// default is 50). Lists that give PageSize get that, up to 1000.
func WithPageSize(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.pageSize = min(n, maxPageSize)
		}
	}
}

// WithCallbackClient sets the client that posts status callbacks (default:
// a client with a 5 second timeout). A test whose public callback URL is not
// reachable gives a client whose transport routes to the handler, as a
// reverse proxy would.
func WithCallbackClient(c *http.Client) Option {
	return func(s *Server) {
		if c != nil {
			s.callbacks = c
		}
	}
}

// WithLifecycle makes the fake move every message it accepts through
// statuses (such as "sent", "delivered"), one every step, posting a signed
// callback for each to the message's StatusCallback: a sandbox that behaves
// like a working carrier. Close stops it.
func WithLifecycle(step time.Duration, statuses ...string) Option {
	return func(s *Server) {
		s.lifecycle = lifecycle{step: step, statuses: append([]string(nil), statuses...)}
	}
}

type lifecycle struct {
	step     time.Duration
	statuses []string
}

// NewServer starts a fake Twilio on a local port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		AccountSID: DefaultAccountSID,
		AuthToken:  DefaultAuthToken,
		now:        time.Now,
		pageSize:   defaultPageSize,
		callbacks:  &http.Client{Timeout: 5 * time.Second},
		bySID:      make(map[string]*message),
		faults:     make(map[string][]*Fault),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the lifecycle of messages, then shuts the server down and
// blocks until every request in progress has ended.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Reset forgets every message, scripted fault and logged request.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
	s.bySID = make(map[string]*message)
	s.faults = make(map[string][]*Fault)
	s.log = nil
}

// Op is a kind of request the fake serves.
type Op uint8

const (
	// Create is POST .../Messages.json, which sends a message. It is the
	// zero Op: a Fault with no Op applies to creates.
	Create Op = iota
	// List is GET .../Messages.json.
	List
	// Fetch is GET .../Messages/{Sid}.json.
	Fetch
	// Any matches every kind of request, in a Fault.
	Any
	// Unrouted is a request for a resource the fake does not serve.
	Unrouted
)

// String returns "create", "list", "fetch", "any" or "unrouted".
func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case List:
		return "list"
	case Fetch:
		return "fetch"
	case Any:
		return "any"
	}
	return "unrouted"
}

// Request is a request the fake received, as its log records it.
type Request struct {
	// At is when the request arrived, by the fake's clock.
	At time.Time
	// Op is the kind of request.
	Op Op
	// Method and Path are the request's.
	Method string
	Path   string
	// Params are the form parameters of a create, or the query of a list.
	Params url.Values
	// Sender is the From number (or MessagingServiceSid) that scripted
	// faults are matched against.
	Sender string
	// Status is the HTTP status of the answer, 0 when the connection was
	// dropped.
	Status int
	// Fault reports whether a scripted fault shaped the answer.
	Fault bool
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = *r
	}
	return out
}

// Count returns how many requests of kind op were received (every request
// for Any).
func (s *Server) Count(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if op == Any || r.Op == op {
			n++
		}
	}
	return n
}

// serve authenticates, routes and answers one request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, sid, routed := s.route(r)
	rec := &Request{At: s.now(), Op: op, Method: r.Method, Path: r.URL.Path}
	s.record(rec)
	status := 0
	defer func() { s.setStatus(rec, status) }()
	user, pass, ok := r.BasicAuth()
	if !ok || !equal(user, s.AccountSID) || !equal(pass, s.AuthToken) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		status = writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if !routed {
		status = writeError(w, http.StatusNotFound, 20404,
			"The requested resource "+r.URL.Path+" was not found")
		return
	}
	var params url.Values
	var sender string
	switch op {
	case Create:
		if err := r.ParseForm(); err != nil {
			status = writeError(w, http.StatusBadRequest, 20001, "Invalid form body")
			return
		}
		params = r.PostForm
		sender = r.PostForm.Get("From")
		if sender == "" {
			sender = r.PostForm.Get("MessagingServiceSid")
		}
	case List:
		params = r.URL.Query()
		sender = params.Get("From")
	case Fetch:
		params = url.Values{"Sid": {sid}}
		if m := s.lookup(sid); m != nil {
			sender = m.sender()
		}
	}
	s.mu.Lock()
	rec.Params, rec.Sender = params, sender
	s.mu.Unlock()
	handle := func() answer {
		switch op {
		case Create:
			return s.create(r.PostForm)
		case List:
			return s.list(r.URL.Path, params)
		}
		return s.fetch(sid)
	}
	if f := s.takeFault(sender, op); f != nil {
		s.mu.Lock()
		rec.Fault = true
		s.mu.Unlock()
		status = s.applyFault(w, r, f, handle)
		return
	}
	status = handle().write(w)
}

// route tells the kind of request and, for a fetch, the message SID.
func (s *Server) route(r *http.Request) (Op, string, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+apiVersion+"/Accounts/")
	if !ok {
		return Unrouted, "", false
	}
	account, rest, ok := strings.Cut(rest, "/")
	if !ok || account != s.AccountSID {
		return Unrouted, "", false
	}
	switch {
	case rest == "Messages.json" && r.Method == http.MethodPost:
		return Create, "", true
	case rest == "Messages.json" && r.Method == http.MethodGet:
		return List, "", true
	case r.Method == http.MethodGet:
		if file, ok := strings.CutPrefix(rest, "Messages/"); ok {
			if sid, ok := strings.CutSuffix(file, ".json"); ok && sid != "" && !strings.Contains(sid, "/") {
				return Fetch, sid, true
			}
		}
	}
	return Unrouted, "", false
}

// record logs a request as it arrives, so that a client that has its
// answer (or lost its connection) finds it logged.
func (s *Server) record(rec *Request) {
	s.mu.Lock()
	s.log = append(s.log, rec)
	s.mu.Unlock()
}

func (s *Server) setStatus(rec *Request, status int) {
	s.mu.Lock()
	rec.Status = status
	s.mu.Unlock()
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Client returns an HTTP client that sends every request to the fake,
// whatever its host: give it to twilio-go (client.Client.HTTPClient), which
// always addresses api.twilio.com. Close closes its idle connections.
func (s *Server) Client() *http.Client {
	target, _ := url.Parse(s.URL)
	return &http.Client{
		Transport: &redirector{target: target, next: s.srv.Client().Transport},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// redirector sends requests to target's scheme and host.
type redirector struct {
	target *url.URL
	next   http.RoundTripper
}

func (r *redirector) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = r.target.Scheme, r.target.Host, ""
	return r.next.RoundTrip(out)
}
