package safecall_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

func TestCheckResponse(t *testing.T) {
	t.Run("below 400 untouched, 400 an error", func(t *testing.T) {
		assert.Error(t, safecall.CheckResponse(&http.Response{StatusCode: 400, Body: http.NoBody}))
		for _, status := range []int{200, 201, 204, 301, 304, 399} {
			body := &countingBody{rc: io.NopCloser(strings.NewReader("fine"))}
			assert.NoError(t, safecall.CheckResponse(&http.Response{StatusCode: status, Body: body}))
			assert.Zero(t, body.read.Load())
			assert.Zero(t, body.closed.Load())
		}
	})
	t.Run("400 and more", func(t *testing.T) {
		u, err := url.Parse("https://user:pass@api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json?To=%2B15551234567#x")
		require.NoError(t, err)
		body := &countingBody{rc: io.NopCloser(strings.NewReader(`{"code": 20429, "message": "Too Many Requests"}` + strings.Repeat(" ", 10000)))}
		resp := &http.Response{
			StatusCode: 429,
			Header:     http.Header{"Retry-After": {"07"}},
			Body:       body,
			Request:    &http.Request{Method: http.MethodPost, URL: u},
		}
		err = safecall.CheckResponse(resp)
		var se *safecall.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, safecall.StatusError{
			StatusCode: 429,
			RetryAfter: 7 * time.Second,
			Method:     http.MethodPost,
			URL:        "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Messages.json",
			Body:       `{"code": 20429, "message": "Too Many Requests"}…`,
		}, *se)
		assert.Equal(t, `HTTP 429 Too Many Requests: {"code": 20429, "message": "Too Many Requests"}…`, se.Error())
		assert.Equal(t, 429, se.HTTPStatus())
		assert.Equal(t, safecall.RateLimit, safecall.Classify(err))
		assert.Equal(t, int64(4096), body.read.Load(), "drained up to 4 KiB")
		assert.Zero(t, body.closed.Load(), "the caller closes the body")
	})
	t.Run("no request, no body", func(t *testing.T) {
		err := safecall.CheckResponse(&http.Response{StatusCode: 599})
		assert.Equal(t, &safecall.StatusError{StatusCode: 599}, err)
		assert.Equal(t, "HTTP 599", err.Error())
		assert.Equal(t, safecall.Temporary, safecall.Classify(err))
	})
}

func TestStatusErrorRetryAfterIsWaited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScript(&safecall.StatusError{StatusCode: 503, RetryAfter: 3 * time.Second})
		start := time.Now()
		_, err := safecall.Call(t.Context(), "op", s.fn)
		require.NoError(t, err)
		assert.Equal(t, 3*time.Second, time.Since(start))

		s = newScript(&safecall.StatusError{StatusCode: 503, RetryAfter: -time.Second})
		start = time.Now()
		_, err = safecall.Call(t.Context(), "op", s.fn, safecall.WithJitter(0))
		require.NoError(t, err)
		assert.Equal(t, time.Second, time.Since(start), "a negative hint is no hint: the backoff")
	})
}
