package safecall_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func TestUserMessage(t *testing.T) {
	// Errors full of internal detail that must never reach the caller.
	secret := errors.New(`Post "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json": token=sk_live_abc code 21211 +15551234567`)
	tests := []struct {
		name  string
		err   error
		class safecall.Class
	}{
		{"unknown", secret, safecall.Unknown},
		{"network", safecall.Mark(secret, safecall.Network), safecall.Network},
		{"auth", &safecall.Error{Op: "gcal.book", Class: safecall.Auth, Attempts: 2, Err: secret}, safecall.Auth},
		{"rate limit", &statusError{code: 429}, safecall.RateLimit},
		{"temporary", &statusError{code: 503}, safecall.Temporary},
		{"permanent", &safecall.Error{Op: "sms.send", Class: safecall.Permanent, Attempts: 1, Err: secret}, safecall.Permanent},
		{"circuit open", &breaker.OpenError{Key: "org_42:twilio"}, safecall.CircuitOpen},
		{"canceled", context.Canceled, safecall.Canceled},
	}
	seen := map[string]safecall.Class{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := safecall.UserMessage(tt.err)
			assert.Equal(t, safecall.DefaultUserMessage(tt.class), msg)
			require.NotEmpty(t, msg)
			assert.True(t, strings.HasSuffix(msg, ".") || strings.HasSuffix(msg, "?"), "a full sentence: %q", msg)
			for _, leak := range []string{"http", "twilio", "token", "21211", "555", "429", "503", "org_42", "AC123", "error"} {
				assert.NotContains(t, strings.ToLower(msg), leak)
			}
			if other, dup := seen[msg]; dup {
				t.Errorf("%v and %v share a message", other, tt.class)
			}
			seen[msg] = tt.class
		})
	}
	assert.Equal(t, "", safecall.UserMessage(nil))
	assert.Equal(t, "Our system is updating, please try again in a moment.", safecall.DefaultUserMessage(safecall.Temporary))
}

func TestWithUserMessage(t *testing.T) {
	const busy = "The clinic's calendar is busy right now; I'll text you once your booking is confirmed."
	opts := []safecall.Option{
		safecall.WithRetries(0),
		safecall.WithUserMessage(safecall.Temporary, "first choice"),
		safecall.WithUserMessage(safecall.Temporary, busy), // the last one wins
		safecall.WithUserMessage(safecall.Permanent, "That date isn't available."),
	}
	_, err := safecall.Call(context.Background(), "gcal.book", newScript(&statusError{code: 503}).fn, opts...)
	assert.Equal(t, busy, safecall.UserMessage(err))
	assert.Equal(t, busy, safecall.UserMessage(errors.Join(errors.New("booking"), err)), "found through wrapping")

	// An override for another class leaves the default.
	_, err = safecall.Call(context.Background(), "gcal.book", newScript(&statusError{code: 401}).fn, opts...)
	assert.Equal(t, safecall.DefaultUserMessage(safecall.Auth), safecall.UserMessage(err))
}

func TestUserMessageOfUnknownClass(t *testing.T) {
	// safecall.Canceled is the last class; anything above is no class.
	for _, c := range []safecall.Class{safecall.Canceled + 1, 200} {
		_, err := safecall.Call(context.Background(), "op", newScript(&statusError{code: 400}).fn,
			safecall.WithUserMessage(c, "never"))
		assert.Equal(t, safecall.DefaultUserMessage(safecall.Permanent), safecall.UserMessage(err))

		// A classifier that returns it: retried like Unknown, with the
		// sentence of Unknown unless one is given for it.
		s := newScript(repeat(errors.New("odd"), 9)...)
		odd := safecall.WithClassifier(func(error) safecall.Class { return c })
		_, err = safecall.Call(context.Background(), "op", s.fn, safecall.WithRetries(1), safecall.WithBackoff(time.Millisecond, 0), odd)
		assert.Equal(t, 2, s.attempts())
		assert.Equal(t, c, safecall.ClassOf(err))
		assert.Equal(t, safecall.DefaultUserMessage(safecall.Unknown), safecall.UserMessage(err))

		_, err = safecall.Call(context.Background(), "op", s.fn, safecall.WithRetries(0), odd, safecall.WithUserMessage(c, "odd"))
		assert.Equal(t, "odd", safecall.UserMessage(err))
	}
}
