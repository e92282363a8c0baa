package twilioguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/voxanne/resilience/safecall"
)

// twilioBase is the base URL twilio-go builds its requests on.
const twilioBase = "https://api.twilio.com"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// call is one use of twilio-go bound to a context: twilio-go has no
// context support, so its HTTP client's transport (a callTransport) puts
// ctx on every request, sends it to Config.BaseURL, and notes what became
// of it. Calls are pooled by their Guard (twilio-go's client, its API
// service and the transport cost ~400 bytes in six allocations): newCall
// takes one, release gives it back.
type call struct {
	api *openapi.ApiService
	t   *callTransport
}

// newCall returns a call bound to ctx, from the Guard's pool. Release it
// when its answers have been read.
func (g *Guard) newCall(ctx context.Context) *call {
	c, _ := g.calls.Get().(*call)
	if c == nil {
		c = g.makeCall()
	}
	c.t.ctx = ctx
	return c
}

// release gives c back to the pool; nothing may use it afterwards. (The
// one thing that may: net/http reports a request written from its own
// goroutine, which can come after RoundTrip returned if the answer came
// before the body was sent. Such a late report can only mark the next
// use's request as written, which errs on the safe side: a failure that
// follows is taken as ambiguous and reconciled, never sent twice.)
func (g *Guard) release(c *call) {
	c.t.ctx = nil // no context outlives its call
	c.t.status, c.t.retryAfter = 0, 0
	c.t.wrote.Store(false)
	g.calls.Put(c)
}

func (g *Guard) makeCall() *call {
	t := &callTransport{next: g.transport, base: g.base, timeout: g.timeout}
	t.trace = &httptrace.ClientTrace{WroteRequest: t.wroteRequest}
	c := &client.Client{
		Credentials: g.creds,
		HTTPClient: &http.Client{
			Transport:     t, // which applies the timeout itself
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(g.cfg.AccountSID)
	return &call{
		api: openapi.NewApiService(&client.RequestHandler{Client: c, Edge: g.edge, Region: g.region}),
		t:   t,
	}
}

// callTransport is the RoundTripper of one call.
type callTransport struct {
	ctx     context.Context
	next    http.RoundTripper
	base    *url.URL // nil: leave the URL as twilio-go built it
	timeout time.Duration
	trace   *httptrace.ClientTrace

	// What became of the last request.
	wrote      atomic.Bool // the request was written in full
	status     int         // status of the answer; 0 when none came
	retryAfter time.Duration
}

func (t *callTransport) wroteRequest(info httptrace.WroteRequestInfo) {
	if info.Err == nil {
		t.wrote.Store(true)
	}
}

// RoundTrip sends req with the call's context, bounded by the timeout, to
// the base URL. An error answer is read into memory at once, because
// twilio-go neither reads it to the end nor closes it; a success is
// drained when closed, so that its connection is reused.
func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.wrote.Store(false)
	t.status, t.retryAfter = 0, 0
	ctx, cancel := t.ctx, context.CancelFunc(nop)
	if t.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
	}
	// httptrace.WithClientTrace composes the hooks of a trace already in
	// ctx (the caller's) into the trace it is given: that one must then
	// be new, or the caller's hooks would pile up on the transport's.
	trace := t.trace
	if httptrace.ContextClientTrace(ctx) != nil {
		trace = &httptrace.ClientTrace{WroteRequest: t.wroteRequest}
	}
	out := req.WithContext(httptrace.WithClientTrace(ctx, trace))
	if t.base != nil {
		u := *req.URL
		u.Scheme, u.Host = t.base.Scheme, t.base.Host
		u.Path, u.RawPath = t.base.Path+u.Path, "" // Twilio's paths hold nothing to escape
		out.URL, out.Host = &u, ""
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		cancel()
		return nil, err
	}
	t.status = resp.StatusCode
	t.retryAfter = safecall.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		resp.Body = &drainingBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	cancel()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func nop() {}

// drainingBody reads what is left of a small answer before closing it,
// and then ends the request's context.
type drainingBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *drainingBody) Close() error {
	_, _ = io.CopyN(io.Discard, b.ReadCloser, 4<<10)
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// fail wraps the error of a request with what the transport saw: whether Twilio may have acted
// on it (ambiguous) and the facts for errors and audit entries.
func (t *callTransport) fail(err error) *apiError {
	e := &apiError{err: err, status: t.status, retryAfter: t.retryAfter}
	switch {
	case t.status >= 500:
		e.ambiguous = true // Twilio may have created the message before failing
	case t.status >= 200 && t.status < 400:
		e.ambiguous = true // accepted, but the answer cannot be read
		e.garbled = true
	case t.status == 0:
		e.ambiguous = t.wrote.Load() // a timeout or reset after the request went out
	}
	if t.status != 0 {
		if _, ok := asRestError(err); !ok {
			e.garbled = true // an HTML page from a proxy, a truncated body
		}
	}
	return e
}

// create sends the message.
func (c *call) create(m Message, cfg *Config) (*openapi.ApiV2010Message, error) {
	p := &openapi.CreateMessageParams{}
	p.SetTo(m.To)
	p.SetBody(m.Body)
	if m.From != "" {
		p.SetFrom(m.From)
	}
	if cfg.MessagingServiceSID != "" {
		p.SetMessagingServiceSid(cfg.MessagingServiceSID)
	}
	if cfg.StatusCallback != "" {
		p.SetStatusCallback(cfg.StatusCallback)
	}
	msg, err := c.api.CreateMessage(p)
	if err != nil {
		return nil, c.t.fail(err)
	}
	if msg.Sid == nil || *msg.Sid == "" {
		return nil, c.t.fail(errNoSID) // a 2xx without a SID: ambiguous
	}
	return msg, nil
}

// list returns the first page of messages matching p.
func (c *call) list(p *openapi.ListMessageParams) (*openapi.ListMessageResponse, error) {
	page, err := c.api.PageMessage(p, "", "")
	if err != nil {
		return nil, c.t.fail(err)
	}
	return page, nil
}

// next returns the page after page, which must have a next_page_uri. It
// follows it exactly as twilio-go's own list methods do.
func (c *call) next(page *openapi.ListMessageResponse) (*openapi.ListMessageResponse, error) {
	v, err := client.GetNext(twilioBase, page, func(nextURL string) (any, error) {
		resp, err := c.api.RequestHandler().Get(nextURL, nil, nil, "")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out := &openapi.ListMessageResponse{}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return nil, c.t.fail(err)
	}
	return v.(*openapi.ListMessageResponse), nil
}

// errNoSID is a create answer without a message SID: accepted, maybe, but
// unusable.
var errNoSID = errors.New("twilioguard: Twilio answered without a message SID")
