package safecall_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func ExampleNewTransport() {
	// A vendor that is unavailable for the first request, then books, and
	// is down for good on /down.
	var calls atomic.Int32
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 || r.URL.Path == "/down" {
			http.Error(w, "upstream timeout", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "booked")
	}))
	defer vendor.Close()

	// One breaker per tenant, picked from the request.
	breakers := breaker.NewRegistry[string](breaker.Settings{})
	client := &http.Client{Transport: safecall.NewTransport(nil,
		safecall.WithBreakerFor(func(r *http.Request) safecall.Breaker {
			return breakers.Get(r.Header.Get("X-Org-ID"))
		}),
		safecall.WithBackoff(time.Millisecond, 0), // keeps the example quick
	)}

	req, _ := http.NewRequest(http.MethodPut, vendor.URL+"/slots/42", nil)
	req.Header.Set("X-Org-ID", "clinic-7")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), "after", calls.Load(), "requests")

	// All attempts fail: no response, an error that says why.
	req, _ = http.NewRequest(http.MethodGet, vendor.URL+"/down", nil)
	req.Header.Set("X-Org-ID", "clinic-8")
	_, err = client.Do(req)
	var e *safecall.Error
	var se *safecall.StatusError
	if errors.As(err, &e) && errors.As(err, &se) {
		fmt.Println(e.Class, "after", e.Attempts, "attempts:", se)
	}
	fmt.Println(safecall.UserMessage(err))
	fmt.Println(breakers.Get("clinic-7").State(), breakers.Get("clinic-8").State())
	// Output:
	// 200 booked after 2 requests
	// circuit-open after 3 attempts: HTTP 503 Service Unavailable: upstream timeout
	// That service is temporarily unavailable. Please try again in a few minutes.
	// closed open
}

func ExampleCheckResponse() {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"error":"rate limited","api_key":"sk_live_51Habc123XYZdef456"}`, http.StatusTooManyRequests)
	}))
	defer vendor.Close()

	resp, err := http.Get(vendor.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	err = safecall.CheckResponse(resp)
	var se *safecall.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode, se.RetryAfter, safecall.Classify(err))
	}
	fmt.Println(err)
	// Output:
	// 429 7s rate-limit
	// HTTP 429 Too Many Requests: {"error":"rate limited","api_key":"[redacted]"}
}
