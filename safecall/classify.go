package safecall

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/voxanne/resilience/breaker"
)

// Classify is the default classifier. It reads, in order:
//   - a mark made with Mark (the outermost wins);
//   - context errors: context.Canceled is Canceled, context.DeadlineExceeded
//     is Temporary (Call itself classifies every failure after the caller's
//     context is done as Canceled, so only an attempt's own timeout remains);
//   - breaker rejections (breaker.ErrOpen): CircuitOpen;
//   - an error with an HTTPStatus() int or StatusCode() int method: 401 and
//     403 are Auth, 429 RateLimit, 408 and 5xx Temporary except 501, which is
//     Permanent like every other 4xx; other statuses are Unknown;
//   - network errors: connection refused, reset or aborted, broken pipe,
//     unreachable network or host, DNS errors, net.Error timeouts (which
//     include TLS handshake timeouts), io.ErrUnexpectedEOF, and io.EOF inside
//     a *url.Error: Network; a failed certificate verification: Permanent;
//   - an error with a RetryAfter() time.Duration method returning more than
//     zero: Temporary.
//
// A *StatusError (from NewTransport or CheckResponse) is read through its
// HTTPStatus method; its RetryAfter is the wait Call makes before a retry.
//
// Anything else, and nil, is Unknown. Classify never matches error strings.
func Classify(err error) Class {
	if err == nil {
		return Unknown
	}
	var m *markedError
	if errors.As(err, &m) {
		return m.class
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Temporary
	case errors.Is(err, breaker.ErrOpen):
		return CircuitOpen
	}
	if status, ok := httpStatus(err); ok {
		if c := ClassifyStatus(status); c != Unknown {
			return c
		}
	}
	if c := classifyNetwork(err); c != Unknown {
		return c
	}
	if retryAfter(err) > 0 {
		return Temporary
	}
	return Unknown
}

// ClassifyStatus returns the class of an HTTP response status: 401 and 403
// are Auth, 429 RateLimit, 408 and 5xx Temporary except 501 (Permanent),
// any other 4xx Permanent, and everything else Unknown.
func ClassifyStatus(status int) Class {
	switch {
	case status == 401 || status == 403:
		return Auth
	case status == 429:
		return RateLimit
	case status == 408:
		return Temporary
	case status == 501:
		return Permanent
	case status >= 500 && status <= 599:
		return Temporary
	case status >= 400 && status <= 499:
		return Permanent
	}
	return Unknown
}

type httpStatuser interface{ HTTPStatus() int }

type statusCoder interface{ StatusCode() int }

type retryAfterer interface{ RetryAfter() time.Duration }

// httpStatus finds the first error in err's chain that reports an HTTP status.
func httpStatus(err error) (int, bool) {
	var hs httpStatuser
	if errors.As(err, &hs) {
		return hs.HTTPStatus(), true
	}
	var sc statusCoder
	if errors.As(err, &sc) {
		return sc.StatusCode(), true
	}
	return 0, false
}

func classifyNetwork(err error) Class {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return Permanent
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		return Network
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return Network
	}
	var ne net.Error // a timeout, syscall.ETIMEDOUT included
	if errors.As(err, &ne) && ne.Timeout() {
		return Network
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return Network
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(err, io.EOF) {
		return Network
	}
	return Unknown
}

// retryAfter returns the wait a failure asks for: a breaker's RetryAfter,
// the RetryAfter() hint of the first error in the chain that has one, or
// the RetryAfter of a StatusError.
func retryAfter(err error) time.Duration {
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		return oe.RetryAfter
	}
	var ra retryAfterer
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	var se *StatusError
	if errors.As(err, &se) {
		return max(se.RetryAfter, 0)
	}
	return 0
}

// notProcessed reports whether a failure proves the request never reached
// the point of doing anything: the connection was refused, the host name did
// not resolve, the dialer failed or the server refused it for rate. (Auth
// and CircuitOpen failures, which also prove it, never get here: a refresh
// retries the first and the second ends the call.)
func notProcessed(err error, c Class) bool {
	switch c {
	case RateLimit:
		return true
	case Network:
		if errors.Is(err, syscall.ECONNREFUSED) {
			return true
		}
		var dns *net.DNSError
		if errors.As(err, &dns) {
			return true
		}
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return false
}
