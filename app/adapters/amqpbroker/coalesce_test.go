package amqpbroker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowConn is a socket that takes a while for each write and records them.
type slowConn struct {
	net.Conn
	delay time.Duration
	fail  error

	mu     sync.Mutex
	writes int
	got    bytes.Buffer
	closed bool
}

func (s *slowConn) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.writes++
	s.got.Write(p)
	return len(p), nil
}

func (s *slowConn) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *slowConn) SetWriteDeadline(time.Time) error { return nil }

// Read fails as a closed socket's does once Close ran; until then there is nothing to read.
func (s *slowConn) Read([]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	}
	return 0, nil
}

func TestCoalescingConn_keeps_each_write_whole_and_in_order_in_fewer_system_calls(t *testing.T) {
	sock := &slowConn{delay: time.Millisecond}
	c := newCoalescingConn(sock)
	const writers, each = 20, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := fmt.Fprintf(c, "<%02d:%03d>", w, i)
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, c.Close(), "close writes what is queued first")

	frames := bytes.SplitAfter(sock.got.Bytes(), []byte(">"))
	frames = frames[:len(frames)-1] // after the last ">"
	require.Len(t, frames, writers*each, "every write arrived, none cut: %q", sock.got.String())
	next := map[int]int{}
	for _, f := range frames {
		var w, i int
		_, err := fmt.Sscanf(string(f), "<%02d:%03d>", &w, &i)
		require.NoError(t, err, "a write interleaved with another: %q", f)
		assert.Equal(t, next[w], i, "writer %d's writes in order", w)
		next[w] = i + 1
	}
	assert.Less(t, sock.writes, writers*each/4, "writes made while the socket was busy share a system call")
	assert.True(t, sock.closed)
}

func TestCoalescingConn_a_failed_socket_write_fails_every_later_write_and_closes_it(t *testing.T) {
	broken := errors.New("connection reset by peer")
	sock := &slowConn{fail: broken}
	c := newCoalescingConn(sock)
	_, err := c.Write([]byte("queued, then lost"))
	require.NoError(t, err, "a write only queues")
	<-c.done
	_, err = c.Write([]byte("after"))
	assert.ErrorIs(t, err, broken)
	assert.True(t, sock.closed, "so that amqp091's reader sees the connection lost")
	_, err = c.Read(make([]byte, 8))
	assert.ErrorIs(t, err, broken, "and learns why, not that the socket was closed")
}

func TestCoalescingConn_bounds_what_waits_for_the_socket(t *testing.T) {
	sock := &slowConn{delay: 50 * time.Millisecond}
	c := newCoalescingConn(sock)
	defer c.Close()
	big := make([]byte, maxCoalesced/2+1)
	start := time.Now()
	for range 4 {
		_, err := c.Write(big)
		require.NoError(t, err)
	}
	// The first write goes to the socket at once; the second queues; the third and the
	// fourth each wait for the socket to take the batch before them.
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "a writer waits once the queue is full")
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.LessOrEqual(t, len(c.pending), maxCoalesced)
}

func TestCoalescingConn_write_after_close_fails(t *testing.T) {
	c := newCoalescingConn(&slowConn{})
	require.NoError(t, c.Close())
	_, err := c.Write([]byte("x"))
	assert.ErrorIs(t, err, errConnClosed)
}
