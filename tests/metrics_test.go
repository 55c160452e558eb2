package tests

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// postOrder posts an order of quantity units of sku at price cents each and returns
// its id.
func postOrder(t testing.TB, c *Client, sku string, quantity, price int64) string {
	t.Helper()
	r := c.Must(t, http.MethodPost, "/orders", map[string]any{
		"customer_id": "cust-metrics",
		"items":       []map[string]any{{"sku": sku, "quantity": quantity, "unit_price_cents": price}},
		"currency":    "USD",
	})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var placed struct {
		OrderID string `json:"order_id"`
	}
	r.JSON(t, &placed)
	return placed.OrderID
}

// histogram returns the count and sum of the first series of the histogram name of reg
// that has every label, or zeros.
func histogram(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) (count uint64, sum float64) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0, 0
}

// TestMetrics_placed_to_terminal_once_per_order_by_outcome: each order that ends is
// measured once, from its placed_at, under how it ended; a payment.captured handled
// again for a confirmed order is not measured twice.
func TestMetrics_placed_to_terminal_once_per_order_by_outcome(t *testing.T) {
	t.Parallel()
	w := Start(t, nil, handlers.Table())
	c := NewClient(w.URL())
	start := time.Now()
	confirmed := postOrder(t, c, "SKU-RED", 2, 1999)
	outOfStock := postOrder(t, c, "SKU-GREEN", 6, 500)
	declined := postOrder(t, c, "SKU-BLUE", 1, 250000)
	awaitStatus(t, c, confirmed, "confirmed", 5*time.Second)
	awaitStatus(t, c, outOfStock, "cancelled", 5*time.Second)
	awaitStatus(t, c, declined, "cancelled", 5*time.Second)
	elapsed := time.Since(start)

	const name = "orderflow_order_placed_to_terminal_seconds"
	for _, outcome := range []string{"confirmed", "out_of_stock", "payment_declined"} {
		Eventually(t, 5*time.Second, func() string {
			if n, _ := histogram(t, w.Registry, name, map[string]string{"outcome": outcome}); n != 1 {
				return outcome + " not measured once yet"
			}
			return ""
		})
		_, seconds := histogram(t, w.Registry, name, map[string]string{"outcome": outcome})
		assert.Greater(t, seconds, 0.0, "%s: placed_at has sub-second precision", outcome)
		assert.Less(t, seconds, elapsed.Seconds(), "%s: measured from placed_at", outcome)
	}

	handledBefore := w.Counter(t, "orderflow_messages_total", handlers.OrderConfirm)
	body, err := json.Marshal(event.PaymentCaptured{OrderID: confirmed, CustomerID: "cust-metrics", PaymentID: "pay-again", AmountCents: 3998, Currency: "USD"})
	require.NoError(t, err)
	w.Tap.Publish(t, event.PaymentCapturedName, message.NewMessage("captured-again", body))
	Eventually(t, 5*time.Second, func() string {
		if w.Counter(t, "orderflow_messages_total", handlers.OrderConfirm) <= handledBefore {
			return "the second payment.captured is not handled yet"
		}
		return ""
	})
	n, _ := histogram(t, w.Registry, name, map[string]string{"outcome": "confirmed"})
	assert.Equal(t, uint64(1), n, "an order ends once")
}

// gauge returns the value of the first series of the gauge name of reg, or -1.
func gauge(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// TestMetrics_publish_http_readiness_and_breaker: on a provider that is down, the
// breaker gauge shows it open, and publishes (events and the poison queue), HTTP
// requests and readiness are measured.
func TestMetrics_publish_http_readiness_and_breaker(t *testing.T) {
	t.Parallel()
	cfg := TestConfig()
	cfg.Payment.TransientFailureRate = 0.999999
	cfg.Payment.Breaker.Failures = 1
	cfg.Payment.Breaker.OpenFor = time.Minute
	w := Start(t, cfg, handlers.Table())
	c := NewClient(w.URL())
	Eventually(t, 10*time.Second, func() string {
		if gauge(t, w.Registry, "orderflow_ready") != 1 {
			return "not ready"
		}
		return ""
	})
	assert.Equal(t, 0.0, gauge(t, w.Registry, "orderflow_payment_breaker_state"), "closed")

	postOrder(t, c, "SKU-RED", 1, 100)
	Eventually(t, 10*time.Second, func() string {
		if gauge(t, w.Registry, "orderflow_payment_breaker_state") != 2 {
			return "breaker not open"
		}
		if n, _ := histogram(t, w.Registry, "orderflow_publish_duration_seconds", map[string]string{"topic": "orderflow.poison"}); n != 1 {
			return "the capture is not poisoned yet"
		}
		return ""
	})
	for _, topic := range []string{"order.placed", "inventory.reserved", "orderflow.poison"} {
		n, _ := histogram(t, w.Registry, "orderflow_publish_duration_seconds", map[string]string{"topic": topic})
		assert.Equal(t, uint64(1), n, topic)
		assert.Equal(t, 0.0, CounterValueWith(t, w.Registry, "orderflow_publish_errors_total", map[string]string{"topic": topic}), topic)
	}
	assert.Equal(t, 1.0, CounterValueWith(t, w.Registry, "orderflow_http_requests_total",
		map[string]string{"listener": "public", "route": "POST /orders", "code": "202"}))
	n, _ := histogram(t, w.Registry, "orderflow_http_request_duration_seconds", map[string]string{"listener": "public", "route": "POST /orders"})
	assert.Equal(t, uint64(1), n)
	assert.Positive(t, w.Counter(t, "orderflow_message_retries_total", handlers.PaymentCapture), "the capture was retried in process")
}
