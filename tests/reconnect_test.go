package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/handlers"
)

// TestAMQP_broker_lost_then_back: the worker reports unready and refuses orders with 503
// and Retry-After while RabbitMQ is down, and carries on by itself when it is back.
func TestAMQP_broker_lost_then_back(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts its own RabbitMQ")
	}
	if raceDetector {
		t.Skip("watermill-amqp v2.1.3 races on its connection state when it reconnects (see race_on_test.go)")
	}
	broker := StartRabbitMQ(t)
	cfg := AMQPConfig(t, nil)
	cfg.AMQP.URL = broker.URL
	w := StartAMQP(t, cfg, handlers.Table())
	c := NewClient(w.URL())

	placeAndConfirm(t, c)

	broker.Stop(t)
	Eventually(t, 30*time.Second, func() string {
		if r := c.Must(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusServiceUnavailable {
			return "still ready"
		}
		return ""
	})
	r := c.Must(t, http.MethodGet, "/readyz", nil)
	assert.Contains(t, string(r.Body), `"broker":"rabbitmq: not connected; reconnecting"`)
	r = c.Must(t, http.MethodPost, "/orders", validOrder())
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
	assert.Equal(t, "2", r.Header.Get("Retry-After"))

	broker.Start(t)
	Eventually(t, 60*time.Second, func() string {
		if r := c.Must(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusOK {
			return "not ready again: " + string(r.Body)
		}
		return ""
	})
	placeAndConfirm(t, c)
}

// TestAMQP_several_urls_the_worker_takes_the_node_that_answers: of two URLs, the first
// names a node that is down; the worker connects to the second, whichever it tries
// first, and the saga runs (CONTRACT 6). Failing over when a node is lost is the cluster
// chaos test's (make test-cluster).
func TestAMQP_several_urls_the_worker_takes_the_node_that_answers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("component test")
	}
	cfg := AMQPConfig(t, nil)
	live, err := url.Parse(cfg.AMQP.URL)
	require.NoError(t, err)
	dead := *live
	dead.Host = fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	cfg.AMQP.URL = dead.String() + "," + live.String()
	require.NoError(t, cfg.Validate())
	for range 3 { // each start begins at a node of its own choosing
		w := StartAMQP(t, cfg, handlers.Table())
		placeAndConfirm(t, NewClient(w.URL()))
	}
}

func placeAndConfirm(t *testing.T, c *Client) {
	t.Helper()
	var id string
	Eventually(t, 30*time.Second, func() string {
		r := c.Must(t, http.MethodPost, "/orders", validOrder())
		if r.Status != http.StatusAccepted {
			return "POST /orders: " + string(r.Body)
		}
		var placed struct {
			OrderID string `json:"order_id"`
		}
		r.JSON(t, &placed)
		id = placed.OrderID
		return ""
	})
	require.NotEmpty(t, id)
	awaitStatus(t, c, id, "confirmed", 30*time.Second)
}
