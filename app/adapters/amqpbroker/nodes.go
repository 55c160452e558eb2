package amqpbroker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// nodeDialTimeout bounds the TCP connect to one node, so that a node that does not
// answer costs seconds before the next is tried, not amqp091's 30 s.
const nodeDialTimeout = 5 * time.Second

// handshakeTimeout bounds the TLS and AMQP handshakes on a connection, as amqp091's own
// dialer does: heartbeats have not started yet.
const handshakeTimeout = 30 * time.Second

// nodes dials the first node of a cluster that answers (CONTRACT 6). Every connection,
// and every reconnect watermill-amqp makes after one is lost, dials through it: it
// tries each node in turn, beginning with the one after the node it reached last, so
// a reconnect moves off a node that went away, and processes starting together spread
// over the nodes.
type nodes struct {
	// uri is the first URL with the scheme amqp: amqp091 reads the credentials, the
	// virtual host and the parameters from it, and leaves TLS to dial.
	uri   string
	addrs []string
	hosts []string
	tls   *tls.Config
	next  atomic.Uint32
}

// newNodes parses urls, which differ in host and port only (configs checks that). TLS
// applies to amqps:// URLs; its ServerName, when empty, is each node's own host.
func newNodes(urls []string, tlsConfig *tls.Config) (*nodes, error) {
	if len(urls) == 0 {
		return nil, errors.New("no amqp url")
	}
	n := &nodes{}
	for i, raw := range urls {
		uri, err := amqp.ParseURI(raw)
		if err != nil {
			return nil, fmt.Errorf("amqp url %d: %w", i+1, err)
		}
		if i == 0 {
			if uri.Scheme == "amqps" {
				n.tls = tlsConfig
				if n.tls == nil {
					n.tls = &tls.Config{MinVersion: tls.VersionTLS12}
				}
			}
			plain, err := url.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("amqp url 1: %w", err)
			}
			plain.Scheme = "amqp"
			n.uri = plain.String()
		}
		n.addrs = append(n.addrs, net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)))
		n.hosts = append(n.hosts, uri.Host)
	}
	n.next.Store(uint32(rand.IntN(len(n.addrs))))
	return n, nil
}

// config is the amqp091 configuration of a connection through n.
func (n *nodes) config() *amqp.Config {
	return &amqp.Config{Dial: n.dial, Locale: "en_US"}
}

// dial ignores addr, which is the first URL's, and connects to a node.
func (n *nodes) dial(network, _ string) (net.Conn, error) {
	start := n.next.Load()
	var errs []error
	for i := range uint32(len(n.addrs)) {
		k := (start + i) % uint32(len(n.addrs))
		conn, err := n.dialNode(network, int(k))
		if err == nil {
			n.next.Store(k + 1)
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.addrs[k], err))
	}
	return nil, errors.Join(errs...)
}

func (n *nodes) dialNode(network string, k int) (net.Conn, error) {
	conn, err := net.DialTimeout(network, n.addrs[k], nodeDialTimeout)
	if err != nil {
		return nil, err
	}
	// amqp091 clears the deadline once the AMQP handshake is done.
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if n.tls == nil {
		return newCoalescingConn(conn), nil
	}
	cfg := n.tls.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = n.hosts[k]
	}
	client := tls.Client(conn, cfg)
	if err := client.Handshake(); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return newCoalescingConn(client), nil
}
