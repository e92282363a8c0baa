package twiliotest

import (
	"cmp"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Fault shapes the answer to requests from one sender. The zero Fault
// (with a Status, say) fails the next create request without creating
// anything.
//
// The order of events is: with Accept, the request is processed first
// (the message is created); then the fake waits Delay, dropping a request
// that was not accepted if the client gives up meanwhile; then it drops
// the connection (Reset), or answers as told (HTML, Body, or Status with
// Code), or, when none is set, gives the normal answer.
type Fault struct {
	// Op is the kind of request the fault applies to: Create (the zero
	// value), List, Fetch or Any.
	Op Op
	// Times is how many matching requests the fault applies to; 0 means 1.
	Times int
	// Status is the HTTP status to answer with, such as 429 or 500. With
	// HTML and no Status, 502.
	Status int
	// Code is the Twilio error code in the body; 0 means the usual one for
	// Status (20429 for 429, 20003 for 401, 20500 for 5xx...).
	Code int
	// RetryAfter is the value of a Retry-After header to send, such as "2".
	RetryAfter string
	// Accept makes the fake process the request (create the message)
	// before failing: the client never learns of it.
	Accept bool
	// HTML answers with an HTML error page, as a load balancer does,
	// instead of Twilio's JSON.
	HTML bool
	// Body, if set, is the answer's body, sent as JSON with Status (200
	// if none): a truncated or unexpected answer.
	Body string
	// Reset drops the connection (a TCP reset) instead of answering.
	Reset bool
	// Delay holds the answer back. Longer than the client's timeout, it
	// makes a timeout after the request was written.
	Delay time.Duration
}

// Script queues faults for the requests whose sender is from: the From
// number of a create (or its MessagingServiceSid) or of a list, or the
// sender of the message a fetch asks for. Each request takes the first
// queued fault of its kind, which is spent after Times requests.
func (s *Server) Script(from string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		f.Times = max(f.Times, 1)
		s.faults[from] = append(s.faults[from], &f)
	}
}

// Unscript drops the faults still queued for the requests of from, ending
// a scripted outage of that sender; the other senders' stay.
func (s *Server) Unscript(from string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, from)
}

// takeFault spends one use of the first fault queued for sender that
// applies to op.
func (s *Server) takeFault(sender string, op Op) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := s.faults[sender]
	for i, f := range queue {
		if f.Op != op && f.Op != Any {
			continue
		}
		f.Times--
		if f.Times == 0 {
			s.faults[sender] = append(queue[:i:i], queue[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// applyFault answers a request as f says; handle processes it normally.
// It returns the status written, 0 for a dropped connection.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, handle func() answer) int {
	var a answer
	processed := false
	if f.Accept {
		a, processed = handle(), true
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			if !processed {
				return 0 // the client gave up before the request was processed
			}
		case <-s.ctx.Done():
		}
	}
	setRetryAfter(w, f.RetryAfter)
	switch {
	case f.Reset:
		reset(w)
		return 0
	case f.HTML:
		status := cmp.Or(f.Status, http.StatusBadGateway)
		text := http.StatusText(status)
		return writeRaw(w, status, "text/html", "<html><head><title>"+strconv.Itoa(status)+" "+text+
			"</title></head><body><h1>"+text+"</h1></body></html>\n")
	case f.Body != "":
		return writeRaw(w, cmp.Or(f.Status, http.StatusOK), "application/json; charset=utf-8", f.Body)
	case f.Status != 0:
		code := cmp.Or(f.Code, defaultCode(f.Status))
		return writeError(w, f.Status, code, errorText(code))
	}
	if !processed {
		a = handle()
	}
	return a.write(w)
}

func setRetryAfter(w http.ResponseWriter, v string) {
	if v != "" {
		w.Header().Set("Retry-After", v)
	}
}

// writeRaw answers with body as it is and returns status.
func writeRaw(w http.ResponseWriter, status int, contentType, body string) int {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return status
}

// reset closes the connection under w with a TCP reset.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}

// defaultCode is the Twilio error code that usually comes with status.
func defaultCode(status int) int {
	switch {
	case status == http.StatusTooManyRequests:
		return 20429
	case status == http.StatusUnauthorized:
		return 20003
	case status == http.StatusNotFound:
		return 20404
	case status == http.StatusServiceUnavailable:
		return 20503
	case status >= 500:
		return 20500
	}
	return 20001
}

// errorText is the message Twilio gives with code.
func errorText(code int) string {
	switch code {
	case 20003:
		return "Authenticate"
	case 20429:
		return "Too Many Requests"
	case 20500:
		return "An internal server error has occurred"
	case 20503:
		return "Service is unavailable. Please try again"
	}
	return "Error " + strconv.Itoa(code)
}
