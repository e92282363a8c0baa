package gcaltest

import (
	"slices"
	"time"
)

// Request is one request the Server received, as its log keeps it.
type Request struct {
	// Op is the endpoint.
	Op Op
	// Method and Path are the request's.
	Method, Path string
	// CalendarID is the calendar as named in the path ("primary", say);
	// EventID the event, for events.get and events.delete.
	CalendarID, EventID string
	// Grant is the grant_type of a token request.
	Grant string
	// Account is the Google account the request acted for, when known.
	Account string
	// AccessToken is the bearer token the request carried. The tokens of
	// a Server are fakes; a log of real ones would be a leak.
	AccessToken string
	// Status is the HTTP status answered; 0 when the connection was
	// dropped.
	Status int
	// Faulted says that a scripted Fault applied.
	Faulted bool
	// At is when the request arrived, by the server's clock.
	At time.Time

	fault *Fault // the fault that applies, for the handler
}

func (s *Server) record(r Request) {
	r.fault = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, r)
}

// Requests returns the requests received so far, in the order they were
// answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// Count returns how many requests of op were received.
func (s *Server) Count(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if r.Op == op {
			n++
		}
	}
	return n
}
