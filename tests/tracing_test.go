package tests

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/handlers"
)

// traceOf returns the ended spans of trace id, by name, once want are all there.
func traceOf(t *testing.T, recorder *tracetest.SpanRecorder, id trace.TraceID, want ...string) map[string][]sdktrace.ReadOnlySpan {
	t.Helper()
	var byName map[string][]sdktrace.ReadOnlySpan
	Eventually(t, 20*time.Second, func() string {
		byName = map[string][]sdktrace.ReadOnlySpan{}
		for _, s := range recorder.Ended() {
			if s.SpanContext().TraceID() == id {
				key := s.Name() + " " + attr(s, "messaging.consumer.group.name")
				byName[key] = append(byName[key], s)
			}
		}
		for _, name := range want {
			if len(byName[name]) == 0 {
				return "no span " + name + " in the trace yet"
			}
		}
		return ""
	})
	return byName
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTracing_one_order_is_one_trace: a traceparent sent with POST /orders is the parent
// of every span of the order: each handler's processing, each publish, on GoChannel and
// on RabbitMQ; a declined order's trace shows the compensation; log lines carry the
// trace id.
func TestTracing_one_order_is_one_trace(t *testing.T) {
	t.Parallel()
	starts := map[string]func(*testing.T, Options) *TestWorker{
		"gochannel": func(t *testing.T, o Options) *TestWorker { return StartWith(t, nil, handlers.Table(), o) },
		"amqp":      func(t *testing.T, o Options) *TestWorker { return StartAMQPWith(t, nil, handlers.Table(), o) },
	}
	for env, start := range starts {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			recorder := tracetest.NewSpanRecorder()
			logs := &logBuffer{}
			logger := slog.New(tracing.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			w := start(t, Options{Tracer: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)), Logger: logger})
			c := NewClient(w.URL())

			place := func(traceID string, price int64) (trace.TraceID, string) {
				t.Helper()
				order := validOrder()
				order["items"] = []map[string]any{{"sku": "SKU-RED", "quantity": 1, "unit_price_cents": price}}
				r := c.Must(t, http.MethodPost, "/orders", order, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
				require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
				var placed struct {
					OrderID string `json:"order_id"`
				}
				r.JSON(t, &placed)
				id, err := trace.TraceIDFromHex(traceID)
				require.NoError(t, err)
				return id, placed.OrderID
			}

			confirmedID, confirmed := place("4bf92f3577b34da6a3ce929d0e0e4736", 1999)
			awaitStatus(t, c, confirmed, "confirmed", 20*time.Second)
			spans := traceOf(t, recorder, confirmedID,
				"publish order.placed ",
				"process order.placed "+handlers.InventoryReserve,
				"process order.placed "+handlers.FraudScreen,
				"publish inventory.reserved ",
				"process inventory.reserved "+handlers.PaymentCapture,
				"publish payment.captured ",
				"process payment.captured "+handlers.OrderConfirm,
				"publish order.confirmed ",
				"process order.confirmed "+handlers.NotificationSend,
				"publish notification.sent ",
			)
			// Each handler's span is the child of the publish of the event it handles.
			ids := map[trace.SpanID]string{}
			for name, list := range spans {
				for _, s := range list {
					ids[s.SpanContext().SpanID()] = name
				}
			}
			for name, list := range spans {
				if !strings.HasPrefix(name, "process ") {
					continue
				}
				for _, s := range list {
					event := strings.Fields(name)[1]
					assert.Equal(t, "publish "+event+" ", ids[s.Parent().SpanID()], "%s is the child of its event's publish", name)
					assert.Equal(t, trace.SpanKindConsumer, s.SpanKind())
					assert.Equal(t, name[len("process "+event+" "):], attr(s, "messaging.consumer.group.name"))
					assert.NotEmpty(t, attr(s, "messaging.message.id"))
					assert.NotEmpty(t, attr(s, "messaging.message.conversation_id"), "conversation id = correlation id")
					assert.Equal(t, map[string]string{"gochannel": "gochannel", "amqp": "rabbitmq"}[env], attr(s, "messaging.system"))
				}
			}
			// The caller's span → the request's server span → the publish of order.placed.
			request := traceOf(t, recorder, confirmedID, "POST public ")["POST public "][0]
			assert.Equal(t, trace.SpanKindServer, request.SpanKind())
			assert.Equal(t, "00f067aa0ba902b7", request.Parent().SpanID().String(), "the request's span is a child of the caller's traceparent")
			assert.Equal(t, request.SpanContext().SpanID(), spans["publish order.placed "][0].Parent().SpanID())

			declinedID, declined := place("5bf92f3577b34da6a3ce929d0e0e4737", 250000)
			awaitStatus(t, c, declined, "cancelled", 20*time.Second)
			traceOf(t, recorder, declinedID,
				"process inventory.reserved "+handlers.PaymentCapture,
				"publish payment.failed ",
				"process payment.failed "+handlers.InventoryRelease,
				"process payment.failed "+handlers.OrderCancel,
				"publish order.cancelled ",
				"process order.cancelled "+handlers.NotificationSend,
			)

			var traced int
			for _, line := range strings.Split(logs.String(), "\n") {
				var entry struct {
					TraceID string `json:"trace_id"`
					SpanID  string `json:"span_id"`
				}
				if json.Unmarshal([]byte(line), &entry) == nil && entry.TraceID == confirmedID.String() {
					assert.Len(t, entry.SpanID, 16)
					traced++
				}
			}
			assert.Positive(t, traced, "log lines of the order carry its trace_id")
		})
	}
}
