package amqpbroker

import (
	"errors"
	"net"
	"sync"
	"time"
)

// maxCoalesced bounds the bytes waiting for the socket: a writer that finds this much
// waits, so a slow broker slows publishers down instead of growing memory.
const maxCoalesced = 1 << 20

// coalescingConn hands what amqp091 writes to one goroutine that writes it to the
// socket, so that the frames several publishers and acks write while the socket is busy
// go out in one write instead of one system call each. amqp091 flushes after every
// publish and ack; with hundreds in flight, those system calls are most of the cost of
// publishing (docs/BENCHMARKS.md, "publish path"). A Write returns once its bytes are
// queued, in order; what the broker received is still known only from its confirms, and
// a failed socket write fails every later Write and closes the connection, which
// amqp091 then sees as lost.
type coalescingConn struct {
	net.Conn

	mu      sync.Mutex
	ready   sync.Cond // pending has bytes, or the conn is closing
	space   sync.Cond // pending has room again, or writing failed
	pending []byte
	spare   []byte
	err     error
	closing bool
	done    chan struct{}
}

func newCoalescingConn(conn net.Conn) *coalescingConn {
	c := &coalescingConn{Conn: conn, done: make(chan struct{})}
	c.ready.L, c.space.L = &c.mu, &c.mu
	go c.writeLoop()
	return c
}

var errConnClosed = errors.New("amqp connection closed")

// Write queues p for the socket.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closing && len(c.pending) > 0 && len(c.pending)+len(p) > maxCoalesced {
		c.space.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, errConnClosed
	}
	c.pending = append(c.pending, p...)
	c.ready.Signal()
	return len(p), nil
}

func (c *coalescingConn) writeLoop() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closing {
			c.ready.Wait()
		}
		if len(c.pending) == 0 {
			return // closing, and everything queued is written
		}
		batch := c.pending
		c.pending = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(batch)
		c.mu.Lock()
		c.spare = batch[:0]
		c.space.Broadcast()
		if err != nil {
			c.err = err
			c.pending = nil
			// The reader then fails too, and amqp091 reconnects.
			_ = c.Conn.Close()
			return
		}
	}
}

// Read reads from the socket; when writeLoop closed it because a write failed, it
// returns that write's error, not "use of closed network connection", so that amqp091
// reports why the connection was lost (a broker refusing the client's certificate, say).
func (c *coalescingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, net.ErrClosed) {
		c.mu.Lock()
		writeErr := c.err
		c.mu.Unlock()
		if writeErr != nil {
			return n, writeErr
		}
	}
	return n, err
}

// closeTimeout bounds how long Close waits for the socket to take what is queued.
const closeTimeout = 5 * time.Second

// Close writes what is queued, then closes the socket.
func (c *coalescingConn) Close() error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(closeTimeout))
	c.mu.Lock()
	c.closing = true
	c.ready.Signal()
	c.space.Broadcast()
	c.mu.Unlock()
	<-c.done
	return c.Conn.Close()
}
