package gcaltest

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// pipeListener is an in-memory network: dial hands the server end of a
// net.Pipe to Accept. Every wait in it is on a channel, so that goroutines
// blocked on it are durably blocked in a testing/synctest bubble.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects to the listener; once it is closed, dialing fails as a
// refused connection.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		err := &net.OpError{Op: "dial", Net: "tcp", Addr: pipeAddr{}, Err: syscall.ECONNREFUSED}
		_ = client.Close()
		_ = server.Close()
		return nil, err
	case <-ctx.Done():
		_ = client.Close()
		_ = server.Close()
		return nil, ctx.Err()
	}
}

// pipeAddr is the address of an in-memory Server.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "gcaltest.invalid" }
