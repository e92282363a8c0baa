package gcaltest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
)

// Defaults of Options.
const (
	DefaultClientID      = "gcaltest-client-id.apps.googleusercontent.com"
	DefaultClientSecret  = "gcaltest-client-secret"
	DefaultAccount       = "owner@clinic.example"
	DefaultTokenLifetime = time.Hour
	// CodeLifetime is how long an authorization code from the consent
	// endpoint can be exchanged.
	CodeLifetime = 10 * time.Minute
)

// Options configures a Server. The zero value is a loopback server with
// the defaults above.
type Options struct {
	// InMemory serves over an in-memory network that only Client reaches:
	// no port is opened, and the server and its clients work inside a
	// testing/synctest bubble (create the Server inside the bubble).
	InMemory bool
	// ClientID and ClientSecret are the OAuth client the token and consent
	// endpoints accept (defaults DefaultClientID and DefaultClientSecret).
	ClientID, ClientSecret string
	// Account is the Google account that approves at the consent endpoint
	// and whose primary calendar "primary" names in Events (default
	// DefaultAccount). SetAccount changes it.
	Account string
	// TokenLifetime is how long an access token is accepted (default
	// DefaultTokenLifetime); the token endpoint reports it as expires_in.
	TokenLifetime time.Duration
	// Now is the server's clock, which decides when access tokens and
	// authorization codes expire; nil means time.Now.
	Now func() time.Time
}

// Server is a fake Google Calendar API with its OAuth endpoints. It is safe
// for concurrent use.
type Server struct {
	srv    *httptest.Server
	pipes  *pipeListener // nil unless InMemory
	client *http.Client

	clientID, clientSecret string
	lifetime               time.Duration
	now                    func() time.Time

	mu        sync.Mutex
	account   string
	grants    map[string]*grant       // refresh token -> grant
	access    map[string]*accessToken // access token -> holder
	codes     map[string]*authCode    // authorization code -> consent
	consented map[string]bool         // account -> has granted offline access before
	calendars map[string]*calendarData
	faults    []*Fault
	log       []Request
	seq       int // event ids and etags
}

// NewServer starts a Server; Close stops it.
func NewServer(opts Options) *Server {
	s := &Server{
		clientID:     or(opts.ClientID, DefaultClientID),
		clientSecret: or(opts.ClientSecret, DefaultClientSecret),
		lifetime:     opts.TokenLifetime,
		now:          opts.Now,
		account:      or(opts.Account, DefaultAccount),
		grants:       make(map[string]*grant),
		access:       make(map[string]*accessToken),
		codes:        make(map[string]*authCode),
		consented:    make(map[string]bool),
		calendars:    make(map[string]*calendarData),
	}
	if s.lifetime <= 0 {
		s.lifetime = DefaultTokenLifetime
	}
	if s.now == nil {
		s.now = time.Now
	}
	h := s.handler()
	if !opts.InMemory {
		s.srv = httptest.NewServer(h)
		s.client = s.srv.Client()
		return s
	}
	s.pipes = newPipeListener()
	s.srv = httptest.NewUnstartedServer(h)
	s.srv.Listener = s.pipes
	s.srv.Start()
	s.client = &http.Client{Transport: &http.Transport{
		DialContext: s.pipes.dial,
		// One connection per request in flight, as many as asked for.
		MaxIdleConnsPerHost: 100,
	}}
	return s
}

// Close stops the server, waits for the requests in flight and closes the
// idle connections of Client.
func (s *Server) Close() {
	s.srv.Close()
	s.client.CloseIdleConnections()
}

// URL is the base URL of the Calendar API, ending in "/calendar/v3/": what
// option.WithEndpoint (or gcal.WithEndpoint) takes.
func (s *Server) URL() string { return s.srv.URL + "/calendar/v3/" }

// TokenURL is the URL of the OAuth token endpoint.
func (s *Server) TokenURL() string { return s.srv.URL + "/token" }

// AuthURL is the URL of the OAuth consent endpoint.
func (s *Server) AuthURL() string { return s.srv.URL + "/o/oauth2/auth" }

// RevokeURL is the URL of the OAuth revocation endpoint.
func (s *Server) RevokeURL() string { return s.srv.URL + "/revoke" }

// Client returns an HTTP client that reaches the server: the only one that
// does for an InMemory server.
func (s *Server) Client() *http.Client { return s.client }

// OAuthConfig returns an OAuth client configuration for this server's
// endpoints and client credentials, asking for the Calendar events scope.
func (s *Server) OAuthConfig(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     s.clientID,
		ClientSecret: s.clientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.AuthURL(),
			TokenURL:  s.TokenURL(),
			AuthStyle: oauth2.AuthStyleInParams, // as Google's
		},
		RedirectURL: redirectURL,
		Scopes:      []string{calendar.CalendarEventsScope},
	}
}

// SetAccount sets the Google account that approves at the consent endpoint
// from now on.
func (s *Server) SetAccount(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account = account
}

// handler routes the endpoints, each through the fault and request log
// layer.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, op Op, h func(w http.ResponseWriter, r *http.Request, rec *Request)) {
		mux.Handle(pattern, s.serve(op, h))
	}
	route("POST /calendar/v3/calendars/{calendarId}/events", OpInsert, s.insertEvent)
	route("GET /calendar/v3/calendars/{calendarId}/events", OpList, s.listEvents)
	route("GET /calendar/v3/calendars/{calendarId}/events/{eventId}", OpGet, s.getEvent)
	route("DELETE /calendar/v3/calendars/{calendarId}/events/{eventId}", OpDelete, s.deleteEvent)
	route("POST /calendar/v3/freeBusy", OpFreeBusy, s.freeBusy)
	route("POST /token", OpToken, s.token)
	route("GET /o/oauth2/auth", OpConsent, s.consent)
	route("POST /revoke", OpRevoke, s.revoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "notFound", "Not Found", "")
	})
	return mux
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// bearer returns the access token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
