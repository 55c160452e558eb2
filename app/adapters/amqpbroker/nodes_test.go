package amqpbroker

import (
	"fmt"
	"net"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// node is a listener that stands for a broker node: it accepts and reports which node
// was reached.
type node struct {
	l       net.Listener
	reached chan string
}

func startNode(t *testing.T) *node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n := &node{l: l, reached: make(chan string, 16)}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			n.reached <- l.Addr().String()
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return n
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func dialVia(t *testing.T, n *nodes) string {
	t.Helper()
	conn, err := n.dial("tcp", "ignored:5672")
	require.NoError(t, err)
	defer conn.Close()
	return conn.RemoteAddr().String()
}

func TestNodes_dial_skips_nodes_that_do_not_answer_and_moves_on_after_each(t *testing.T) {
	a, b := startNode(t), startNode(t)
	dead := deadAddr(t)
	n, err := newNodes([]string{
		"amqp://u:p@" + dead + "/vh",
		"amqp://u:p@" + a.l.Addr().String() + "/vh",
		"amqp://u:p@" + b.l.Addr().String() + "/vh",
	}, nil)
	require.NoError(t, err)

	n.next.Store(0)
	assert.Equal(t, a.l.Addr().String(), dialVia(t, n), "the dead first node is skipped")
	assert.Equal(t, b.l.Addr().String(), dialVia(t, n), "a reconnect begins with the node after the one reached last")
	assert.Equal(t, a.l.Addr().String(), dialVia(t, n), "and wraps around, past the dead node")

	require.NoError(t, b.l.Close())
	assert.Equal(t, a.l.Addr().String(), dialVia(t, n), "a node that went away is skipped")
	assert.Equal(t, a.l.Addr().String(), dialVia(t, n), "while it is away, the one left takes every connection")
}

func TestNodes_dial_names_every_node_when_none_answers(t *testing.T) {
	dead1, dead2 := deadAddr(t), deadAddr(t)
	n, err := newNodes([]string{"amqp://" + dead1 + "/", "amqp://" + dead2 + "/"}, nil)
	require.NoError(t, err)
	_, err = n.dial("tcp", "ignored:5672")
	require.Error(t, err)
	assert.Contains(t, err.Error(), dead1)
	assert.Contains(t, err.Error(), dead2)
}

func TestNodes_uri_keeps_credentials_vhost_and_parameters_and_leaves_tls_to_dial(t *testing.T) {
	n, err := newNodes([]string{
		"amqps://user:pa%2Css@mq-1:5671/orders?heartbeat=5&connection_timeout=2000&auth_mechanism=plain",
		"amqps://user:pa%2Css@mq-2:5671/orders?heartbeat=5&connection_timeout=2000&auth_mechanism=plain",
	}, nil)
	require.NoError(t, err)
	uri, err := amqp.ParseURI(n.uri)
	require.NoError(t, err)
	assert.Equal(t, "amqp", uri.Scheme, "amqp091 must not wrap the connection in TLS a second time")
	assert.Equal(t, "user", uri.Username)
	assert.Equal(t, "pa,ss", uri.Password)
	assert.Equal(t, "orders", uri.Vhost)
	assert.Contains(t, n.uri, "heartbeat=5")
	assert.Equal(t, 2000, uri.ConnectionTimeout)
	assert.Equal(t, []string{"mq-1:5671", "mq-2:5671"}, n.addrs)
	assert.Equal(t, []string{"mq-1", "mq-2"}, n.hosts, "each node's certificate is verified under its own host")
	require.NotNil(t, n.tls, "amqps:// URLs dial TLS themselves")
}

func TestNodes_default_ports_follow_the_scheme(t *testing.T) {
	for scheme, port := range map[string]int{"amqp": 5672, "amqps": 5671} {
		n, err := newNodes([]string{fmt.Sprintf("%s://mq/", scheme)}, nil)
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprintf("mq:%d", port)}, n.addrs, scheme)
	}
}
