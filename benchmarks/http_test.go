package benchmarks

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

// canned is an inner transport that answers 200 "ok" in memory, so that
// only the wrapper's own cost is measured.
type canned struct{}

func (canned) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), ContentLength: 2, Request: r,
	}, nil
}

// BenchmarkHTTPRoundTrip measures a GET that succeeds at once through each
// HTTP wrapper, each configured like safecall's default (up to 3 retries,
// exponential backoff from 1s) and wrapped around its own inner transport:
// net=loopback is a real http.Transport to an httptest server (the cost a
// user sees), net=memory an in-memory answer (the wrapper alone).
// Compare with: go tool benchstat -col /impl -filter /net:memory new.txt.
func BenchmarkHTTPRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	nets := []struct {
		name  string
		url   string
		inner func() http.RoundTripper
	}{
		{"loopback", srv.URL, func() http.RoundTripper { return &http.Transport{MaxIdleConnsPerHost: 4} }},
		{"memory", "http://api.example/slots", func() http.RoundTripper { return canned{} }},
	}
	impls := []struct {
		name   string
		client func(inner http.RoundTripper) *http.Client
	}{
		{"bare/policy=none", func(inner http.RoundTripper) *http.Client {
			return &http.Client{Transport: inner}
		}},
		{"safecall/policy=retry", func(inner http.RoundTripper) *http.Client {
			return &http.Client{Transport: safecall.NewTransport(inner)}
		}},
		{"safecall/policy=retry+breaker", func(inner http.RoundTripper) *http.Client {
			breakers := breaker.NewRegistry[string](breaker.Settings{})
			return &http.Client{Transport: safecall.NewTransport(inner, safecall.WithBreakerFor(func(r *http.Request) safecall.Breaker {
				return breakers.Get(r.URL.Host)
			}))}
		}},
		{"retryablehttp/policy=retry", func(inner http.RoundTripper) *http.Client {
			rc := retryablehttp.NewClient()
			rc.HTTPClient = &http.Client{Transport: inner}
			rc.Logger = nil
			rc.RetryMax = 3
			rc.RetryWaitMin, rc.RetryWaitMax = time.Second, 10*time.Second
			return rc.StandardClient()
		}},
		{"failsafehttp/policy=retry", func(inner http.RoundTripper) *http.Client {
			rp := failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(3).WithBackoff(time.Second, 10*time.Second).Build()
			return &http.Client{Transport: failsafehttp.NewRoundTripper(inner, rp)}
		}},
		{"failsafehttp/policy=retry+breaker", func(inner http.RoundTripper) *http.Client {
			rp := failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(3).WithBackoff(time.Second, 10*time.Second).Build()
			cb := circuitbreaker.NewWithDefaults[*http.Response]()
			return &http.Client{Transport: failsafehttp.NewRoundTripperWithExecutor(inner, failsafe.With(rp, cb))}
		}},
	}
	for _, n := range nets {
		for _, impl := range impls {
			b.Run("net="+n.name+"/impl="+impl.name, func(b *testing.B) {
				inner := n.inner()
				client := impl.client(inner)
				defer client.CloseIdleConnections()
				req, err := http.NewRequest(http.MethodGet, n.url, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					body, err := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
						b.Fatalf("got %d %q, %v", resp.StatusCode, body, err)
					}
				}
			})
		}
	}
}
