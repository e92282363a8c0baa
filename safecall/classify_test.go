package safecall_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voxanne/resilience/breaker"
	"github.com/voxanne/resilience/safecall"
)

func TestClassString(t *testing.T) {
	tests := []struct {
		c    safecall.Class
		want string
	}{
		{safecall.Unknown, "unknown"},
		{safecall.Network, "network"},
		{safecall.Auth, "auth"},
		{safecall.RateLimit, "rate-limit"},
		{safecall.Temporary, "temporary"},
		{safecall.Permanent, "permanent"},
		{safecall.CircuitOpen, "circuit-open"},
		{safecall.Canceled, "canceled"},
		{safecall.Class(42), "Class(42)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.c.String())
	}
	var zero safecall.Class
	assert.Equal(t, safecall.Unknown, zero)
}

func opErr(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError("connect", errno)}
}

func TestClassify(t *testing.T) {
	plain := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want safecall.Class
	}{
		{"nil", nil, safecall.Unknown},
		{"plain", plain, safecall.Unknown},
		{"mark", safecall.Mark(plain, safecall.Permanent), safecall.Permanent},
		{"wrapped mark", fmt.Errorf("book: %w", safecall.Mark(plain, safecall.Auth)), safecall.Auth},
		{"outer mark wins", safecall.Mark(safecall.Mark(&statusError{code: 503}, safecall.Temporary), safecall.Permanent), safecall.Permanent},
		{"mark beats status", safecall.Mark(&statusError{code: 400}, safecall.Temporary), safecall.Temporary},
		{"canceled", context.Canceled, safecall.Canceled},
		{"wrapped canceled", fmt.Errorf("get: %w", context.Canceled), safecall.Canceled},
		{"deadline", context.DeadlineExceeded, safecall.Temporary},
		{"breaker open", &breaker.OpenError{Key: "t1", RetryAfter: time.Second}, safecall.CircuitOpen},
		{"wrapped breaker open", fmt.Errorf("send: %w", &breaker.OpenError{}), safecall.CircuitOpen},
		{"breaker sentinel", breaker.ErrOpen, safecall.CircuitOpen},
		{"401", &statusError{code: 401}, safecall.Auth},
		{"403", httpStatusError(403), safecall.Auth},
		{"429", &statusError{code: 429}, safecall.RateLimit},
		{"408", &statusError{code: 408}, safecall.Temporary},
		{"500", httpStatusError(500), safecall.Temporary},
		{"502", &statusError{code: 502}, safecall.Temporary},
		{"503", &statusError{code: 503}, safecall.Temporary},
		{"501", &statusError{code: 501}, safecall.Permanent},
		{"400", &statusError{code: 400}, safecall.Permanent},
		{"404", httpStatusError(404), safecall.Permanent},
		{"422", &statusError{code: 422}, safecall.Permanent},
		{"302", &statusError{code: 302}, safecall.Unknown},
		{"302 with retry-after", &statusError{code: 302, ra: time.Second}, safecall.Temporary},
		{"wrapped status", fmt.Errorf("twilio: %w", &statusError{code: 429}), safecall.RateLimit},
		{"conn refused", opErr("dial", syscall.ECONNREFUSED), safecall.Network},
		{"conn reset", opErr("read", syscall.ECONNRESET), safecall.Network},
		{"broken pipe", opErr("write", syscall.EPIPE), safecall.Network},
		{"bare errno", syscall.ECONNRESET, safecall.Network},
		{"syscall refused", os.NewSyscallError("connect", syscall.ECONNREFUSED), safecall.Network},
		{"syscall aborted", os.NewSyscallError("read", syscall.ECONNABORTED), safecall.Network},
		{"syscall broken pipe", os.NewSyscallError("write", syscall.EPIPE), safecall.Network},
		{"syscall network unreachable", os.NewSyscallError("connect", syscall.ENETUNREACH), safecall.Network},
		{"syscall host unreachable", os.NewSyscallError("connect", syscall.EHOSTUNREACH), safecall.Network},
		{"syscall timed out", os.NewSyscallError("connect", syscall.ETIMEDOUT), safecall.Network},
		{"other syscall error", os.NewSyscallError("open", syscall.ENOENT), safecall.Unknown},
		{"dns", &net.DNSError{Err: "no such host", Name: "api.example", IsNotFound: true}, safecall.Network},
		{"net timeout", timeoutError{}, safecall.Network},
		{"url timeout", &url.Error{Op: "Get", URL: "https://x", Err: timeoutError{}}, safecall.Network},
		{"unexpected eof", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), safecall.Network},
		{"url eof", &url.Error{Op: "Post", URL: "https://x", Err: io.EOF}, safecall.Network},
		{"bare eof", io.EOF, safecall.Unknown},
		{"net closed", net.ErrClosed, safecall.Network},
		{"other op error", &net.OpError{Op: "read", Err: plain}, safecall.Network},
		{"bad certificate", &tls.CertificateVerificationError{Err: plain}, safecall.Permanent},
		{"retry-after only", retryAfterError(time.Second), safecall.Temporary},
		{"zero retry-after", retryAfterError(0), safecall.Unknown},
		{"joined", errors.Join(plain, &statusError{code: 401}), safecall.Auth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, safecall.Classify(tt.err))
		})
	}
}

func TestClassifyStatus(t *testing.T) {
	// Every status family and the edges of each range: gremlins cannot
	// mutate the conditions of a switch, so this table is what pins them.
	tests := []struct {
		status int
		want   safecall.Class
	}{
		{-1, safecall.Unknown}, {0, safecall.Unknown}, {99, safecall.Unknown},
		{100, safecall.Unknown}, {101, safecall.Unknown}, {199, safecall.Unknown},
		{200, safecall.Unknown}, {204, safecall.Unknown}, {299, safecall.Unknown},
		{300, safecall.Unknown}, {302, safecall.Unknown}, {304, safecall.Unknown}, {399, safecall.Unknown},
		{400, safecall.Permanent}, {402, safecall.Permanent}, {404, safecall.Permanent},
		{407, safecall.Permanent}, {409, safecall.Permanent}, {422, safecall.Permanent},
		{428, safecall.Permanent}, {430, safecall.Permanent}, {499, safecall.Permanent},
		{401, safecall.Auth}, {403, safecall.Auth},
		{408, safecall.Temporary},
		{429, safecall.RateLimit},
		{500, safecall.Temporary}, {501, safecall.Permanent}, {502, safecall.Temporary},
		{503, safecall.Temporary}, {504, safecall.Temporary}, {599, safecall.Temporary},
		{600, safecall.Unknown}, {999, safecall.Unknown},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, safecall.ClassifyStatus(tt.status), "status %d", tt.status)
		assert.Equal(t, tt.want, safecall.Classify(&safecall.StatusError{StatusCode: tt.status}), "StatusError %d", tt.status)
	}
}

func TestMark(t *testing.T) {
	assert.NoError(t, safecall.Mark(nil, safecall.Permanent))

	base := &statusError{code: 503}
	err := safecall.Mark(base, safecall.Permanent)
	assert.Equal(t, base.Error(), err.Error())
	assert.ErrorIs(t, err, base)
	var se *statusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 503, se.code)
}

func TestClassOf(t *testing.T) {
	assert.Equal(t, safecall.Unknown, safecall.ClassOf(nil))
	assert.Equal(t, safecall.RateLimit, safecall.ClassOf(&statusError{code: 429}))

	// The class of a *Error is the one Call decided, even if the error under
	// it would classify otherwise.
	e := &safecall.Error{Op: "op", Class: safecall.Canceled, Attempts: 1, Err: &statusError{code: 503}}
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(e))
	assert.Equal(t, safecall.Canceled, safecall.ClassOf(fmt.Errorf("outer: %w", e)))
}
