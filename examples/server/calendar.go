package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// simCalendar is the simulated calendar vendor of the reference server: an
// in-memory appointment book per organisation whose failures can be
// scripted (POST /api/dev/faults), to watch retries, breakers and the
// caller-facing messages at work without a Google account.
type simCalendar struct {
	mu      sync.Mutex
	books   map[string]map[string]appointment // org -> idempotency key -> booking
	faults  []fault                           // the next calls fail so
	latency time.Duration
	calls   int
}

type appointment struct {
	ID      string    `json:"id"`
	Start   time.Time `json:"start"`
	Patient string    `json:"patient"`
}

// vendorError is a vendor's HTTP error: safecall classifies it by status and
// honours its Retry-After.
type vendorError struct {
	status     int
	retryAfter time.Duration
}

func (e *vendorError) Error() string {
	return "calendar: HTTP " + strconv.Itoa(e.status) + " " + http.StatusText(e.status)
}

// StatusCode is what safecall.Classify reads.
func (e *vendorError) StatusCode() int { return e.status }

// RetryAfter is the vendor's Retry-After hint; zero for none.
func (e *vendorError) RetryAfter() time.Duration { return e.retryAfter }

// fault is a scripted failure of the simulated vendor.
type fault struct {
	Status     int           `json:"status"`
	RetryAfter time.Duration `json:"-"`
}

func newSimCalendar() *simCalendar {
	return &simCalendar{books: make(map[string]map[string]appointment)}
}

// Book records an appointment for org once per idempotency key: retrying a
// booking whose answer was lost never books twice.
func (c *simCalendar) Book(ctx context.Context, org, key string, start time.Time, patient string) (appointment, error) {
	c.mu.Lock()
	c.calls++
	latency := c.latency
	var fail fault
	if len(c.faults) > 0 {
		fail, c.faults = c.faults[0], c.faults[1:]
	}
	c.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return appointment{}, ctx.Err()
		case <-t.C:
		}
	}
	if fail.Status != 0 {
		return appointment{}, &vendorError{status: fail.Status, retryAfter: fail.RetryAfter}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	book := c.books[org]
	if book == nil {
		book = make(map[string]appointment)
		c.books[org] = book
	}
	if a, ok := book[key]; ok {
		return a, nil
	}
	a := appointment{ID: fmt.Sprintf("evt-%d", len(book)+1), Start: start.UTC(), Patient: patient}
	book[key] = a
	return a, nil
}

// Appointments returns the number of appointments booked for org.
func (c *simCalendar) Appointments(org string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.books[org])
}

// Fail makes the next n calls fail with f.
func (c *simCalendar) Fail(n int, f fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.faults = append(c.faults, f)
	}
}

// Calls returns how many calls the vendor received.
func (c *simCalendar) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}
