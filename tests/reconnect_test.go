package tests

import (
	"net/http"
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
