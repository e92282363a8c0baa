package safecall_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/safecall"
)

func TestAttemptTimeoutNotIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		attempts := 0
		err := safecall.Run(t.Context(), "sms.send", func(ctx context.Context) error {
			attempts++
			<-ctx.Done()
			return ctx.Err()
		}, safecall.WithAttemptTimeout(time.Second), safecall.WithIdempotent(false))
		assert.Equal(t, 1, attempts, "the request may have been sent")
		assert.Equal(t, safecall.Temporary, safecall.ClassOf(err))
	})
}

func TestNotIdempotent(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		attempts int
	}{
		{"503 may have been processed", &statusError{code: 503}, 1},
		{"500 may have been processed", httpStatusError(500), 1},
		{"reset may have been processed", opErr("read", syscall.ECONNRESET), 1},
		{"unknown", errors.New("odd"), 1},
		{"unexpected eof", io.ErrUnexpectedEOF, 1},
		{"timeout", timeoutError{}, 1},
		{"permanent", &statusError{code: 400}, 1},
		{"connection refused", opErr("dial", syscall.ECONNREFUSED), 4},
		{"dial failure", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no route")}, 4},
		{"bare refused", os.NewSyscallError("connect", syscall.ECONNREFUSED), 4},
		{"dns", &net.DNSError{Err: "server misbehaving", Name: "api.example"}, 4},
		{"429", &statusError{code: 429}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScript(repeat(tt.err, 9)...)
				_, err := safecall.Call(t.Context(), "sms.send", s.fn, safecall.WithIdempotent(false))
				require.Error(t, err)
				assert.Equal(t, tt.attempts, s.attempts())
			})
		})
	}
	t.Run("idempotent true is the default", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newScript(repeat(&statusError{code: 503}, 9)...)
			_, err := safecall.Call(t.Context(), "op", s.fn, safecall.WithIdempotent(false), safecall.WithIdempotent(true))
			require.Error(t, err)
			assert.Equal(t, 4, s.attempts())
		})
	})
}
