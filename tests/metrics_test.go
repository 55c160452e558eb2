package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/configs"
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
			if hasLabels(m.GetLabel(), labels) {
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

// promtool returns the path of promtool, which Debian's prometheus package installs.
func promtool(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		requireServer(t, "promtool (Debian: apt-get install prometheus)")
	}
	return path
}

// scrape returns what the worker's /metrics shows.
func scrape(t testing.TB, w *TestWorker) string {
	t.Helper()
	r := NewClient(w.URL()).Must(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, r.Status)
	return string(r.Body)
}

// series returns the value of the series of /metrics text whose name and labels are
// exactly those given (labels as Prometheus prints them, sorted), and whether it is there.
func series(text, nameAndLabels string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, nameAndLabels+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// poisonOne publishes an order.placed that is not JSON, as a foreign producer would:
// every consumer of order.placed poisons it.
func poisonOne(t testing.TB, w *TestWorker, id string) {
	t.Helper()
	w.Tap.PublishUnsigned(t, event.OrderPlacedName, message.NewMessage(id, []byte(`{"order_id": "broken`)))
}

// busyAMQPWorker runs a worker on RabbitMQ, with the queue metrics from the management
// API, in which one order was confirmed and a message that is not JSON was poisoned by
// each consumer of order.placed; it returns the worker, its configuration and its
// /metrics once the poison queue's depth shows them and the queues of order.placed show
// their consumers.
func busyAMQPWorker(t *testing.T) (*TestWorker, *configs.Config, string) {
	t.Helper()
	cfg := AMQPConfig(t, nil)
	cfg.AMQP.ManagementURL = os.Getenv(EnvRabbitAPI)
	w := StartAMQP(t, cfg, handlers.Table())
	c := NewClient(w.URL())
	awaitStatus(t, c, postOrder(t, c, "SKU-RED", 1, 1999), "confirmed", 20*time.Second)
	poisonOne(t, w, "metrics-poison-1")
	consumers := ConsumersOf(t, handlers.Table(), event.OrderPlacedName)
	var text string
	Eventually(t, 30*time.Second, func() string {
		text = scrape(t, w)
		if v, _ := series(text, `orderflow_queue_messages{queue="orderflow.poison"}`); v != float64(len(consumers)) {
			return fmt.Sprintf("the poison queue shows %v messages, want %d", v, len(consumers))
		}
		// The management API's figures of a queue are its last statistics event
		// (every 5 s), so a queue's consumers may show after its depth does.
		for _, h := range consumers {
			if v, _ := series(text, `orderflow_queue_consumers{queue="orderflow.`+h+`"}`); v != float64(cfg.Handler(h).Consumers) {
				return fmt.Sprintf("%s's queue shows %v consumers, want %d", h, v, cfg.Handler(h).Consumers)
			}
		}
		return ""
	})
	return w, cfg, text
}

// TestMetrics_promtool_checks_a_live_worker_on_rabbitmq: the /metrics of a worker on
// RabbitMQ, with the queue metrics from the management API, passes `promtool check
// metrics` without a word, and the metrics move: a poisoned message counts under outcome
// poisoned for each consumer of its event and shows in the poison queue's depth.
func TestMetrics_promtool_checks_a_live_worker_on_rabbitmq(t *testing.T) {
	t.Parallel()
	tool := promtool(t)
	_, cfg, text := busyAMQPWorker(t)
	consumers := ConsumersOf(t, handlers.Table(), event.OrderPlacedName)
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)
	assert.Empty(t, string(out), "promtool check metrics has nothing to say")

	for _, h := range consumers {
		v, _ := series(text, `orderflow_messages_total{handler="`+h+`",outcome="poisoned"}`)
		assert.Equal(t, 1.0, v, "%s poisoned it", h)
		v, _ = series(text, `orderflow_queue_consumers{queue="orderflow.`+h+`"}`)
		assert.Equal(t, float64(cfg.Handler(h).Consumers), v, "%s's consumers", h)
		_, ok := series(text, `orderflow_queue_messages_unacked{queue="orderflow.`+h+`"}`)
		assert.True(t, ok, "the management API tells the unacked messages of %s", h)
	}
	v, _ := series(text, `orderflow_messages_total{handler="order-confirm",outcome="handled"}`)
	assert.Equal(t, 1.0, v)
	v, _ = series(text, `orderflow_queue_consumers{queue="orderflow.poison"}`)
	assert.Equal(t, 0.0, v, "nothing consumes the poison queue")
	v, _ = series(text, `orderflow_ready`)
	assert.Equal(t, 1.0, v)
	v, _ = series(text, `orderflow_order_placed_to_terminal_seconds_count{outcome="confirmed"}`)
	assert.Equal(t, 1.0, v)
	v, _ = series(text, `orderflow_http_requests_total{code="202",listener="public",route="POST /orders"}`)
	assert.Equal(t, 1.0, v)
}

// TestMetrics_queue_depth_from_passive_declares: without amqp.management_url the queue
// metrics come from a passive declare of each queue: ready messages and consumers, no
// unacked count.
func TestMetrics_queue_depth_from_passive_declares(t *testing.T) {
	t.Parallel()
	w := StartAMQP(t, nil, handlers.Table())
	poisonOne(t, w, "metrics-poison-2")
	consumers := ConsumersOf(t, handlers.Table(), event.OrderPlacedName)
	var text string
	Eventually(t, 20*time.Second, func() string {
		text = scrape(t, w)
		if v, _ := series(text, `orderflow_queue_messages{queue="orderflow.poison"}`); v != float64(len(consumers)) {
			return fmt.Sprintf("the poison queue shows %v messages, want %d", v, len(consumers))
		}
		return ""
	})
	v, ok := series(text, `orderflow_queue_consumers{queue="orderflow.inventory-reserve"}`)
	assert.True(t, ok)
	assert.Equal(t, float64(TestConfig().HandlerDefaults.Consumers), v)
	assert.NotContains(t, text, "orderflow_queue_messages_unacked{", "a passive declare does not tell the unacked messages")
	v, _ = series(text, `orderflow_queue_messages{queue="orderflow.delay.100ms"}`)
	assert.Equal(t, 0.0, v, "the retry queues are reported too")
}

// TestMetrics_build_info_is_what_version_prints: the binary's orderflow_build_info
// carries the version `orderflow version` prints and the Go version it was built with.
func TestMetrics_build_info_is_what_version_prints(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(Binary(t), "version").Output()
	require.NoError(t, err)
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "orderflow ")
	p := StartBinary(t, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0")
	r := NewClient("http://"+p.Addr).Must(t, http.MethodGet, "/metrics", nil)
	v, ok := series(string(r.Body), `orderflow_build_info{goversion="`+runtime.Version()+`",version="`+version+`"}`)
	assert.True(t, ok, "orderflow_build_info with version %q", version)
	assert.Equal(t, 1.0, v)
}
