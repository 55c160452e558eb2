package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// foreignProducer publishes the way any program with amqp091-go might: no Watermill
// headers, headers of every AMQP type, sometimes no message_id.
type foreignProducer struct {
	ch *amqp.Channel
}

func newForeignProducer(t *testing.T, url string) *foreignProducer {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	return &foreignProducer{ch: ch}
}

func (p *foreignProducer) publish(t *testing.T, routingKey string, pub amqp.Publishing) {
	t.Helper()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(context.Background(), amqpbroker.Exchange, routingKey, false, false, pub)
	require.NoError(t, err)
	acked, err := dc.WaitContext(context.Background())
	require.NoError(t, err)
	require.True(t, acked)
}

func placedBody(t *testing.T, orderID string) []byte {
	t.Helper()
	body, err := json.Marshal(event.OrderPlaced{
		OrderID: orderID, CustomerID: "cust-foreign", Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z",
		Items: []event.Item{{SKU: "SKU-RED", Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100,
	})
	require.NoError(t, err)
	return body
}

func TestAMQP_foreign_producer(t *testing.T) {
	t.Parallel()
	w := StartAMQP(t, nil, handlers.Table())
	c := NewClient(w.URL())
	url := amqpTapOf(w.Tap).url
	producer := newForeignProducer(t, url)
	confirmed := w.Tap.Subscribe(t, event.OrderConfirmedName)

	// message_id, correlation_id, no Watermill header, headers of every type.
	producer.publish(t, event.OrderPlacedName, amqp.Publishing{
		MessageId: "foreign-1", CorrelationId: "corr-foreign", ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Body: placedBody(t, "ord-f1"),
		Headers: amqp.Table{
			"x-int": int32(7), "x-long": int64(1 << 40), "x-bool": true, "x-float": 1.5,
			"x-decimal": amqp.Decimal{Scale: 2, Value: 1234}, "x-time": time.Now(), "x-bytes": []byte("raw"),
			"x-table": amqp.Table{"nested": "t"}, "x-array": []any{int32(1), "two"}, "x-void": nil,
		},
	})
	// No message_id at all, twice: the same routing key and body are the same message.
	noID := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: placedBody(t, "ord-f2")}
	producer.publish(t, event.OrderPlacedName, noID)
	producer.publish(t, event.OrderPlacedName, noID)
	// The same message_id twice.
	dup := amqp.Publishing{MessageId: "foreign-3", ContentType: "application/json", Body: placedBody(t, "ord-f3")}
	producer.publish(t, event.OrderPlacedName, dup)
	producer.publish(t, event.OrderPlacedName, dup)
	// A body that is not JSON, and one that breaks a rule.
	producer.publish(t, event.OrderPlacedName, amqp.Publishing{MessageId: "foreign-bad-json", Body: []byte("{not json"), Headers: amqp.Table{"x-n": int16(1)}})
	bad := placedBody(t, "ord-f5")
	var e event.OrderPlaced
	require.NoError(t, json.Unmarshal(bad, &e))
	e.Items[0].Quantity = 0
	bad, _ = json.Marshal(e)
	producer.publish(t, event.OrderPlacedName, amqp.Publishing{MessageId: "foreign-bad-rule", Body: bad})
	// A routing key nothing is bound to.
	producer.publish(t, "order.teleported", amqp.Publishing{MessageId: "foreign-unrouted", Body: placedBody(t, "ord-f6")})

	for _, id := range []string{"ord-f1", "ord-f2", "ord-f3"} {
		Eventually(t, 20*time.Second, func() string {
			r := c.Must(t, http.MethodGet, "/orders/"+id, nil)
			var v OrderView
			if r.Status == http.StatusOK {
				r.JSON(t, &v)
			}
			if v.Status != "confirmed" {
				return id + " is not confirmed"
			}
			return ""
		})
	}
	got := map[string]string{}
	for range 3 {
		msg := Receive(t, confirmed)
		var oc event.OrderConfirmed
		require.NoError(t, json.Unmarshal(msg.Payload, &oc))
		got[oc.OrderID] = msg.Metadata.Get(envelope.CorrelationIDKey)
	}
	assert.Equal(t, "corr-foreign", got["ord-f1"], "the correlation_id property travels the whole flow")
	assert.NotEmpty(t, got["ord-f2"], "a flow without correlation_id gets one")
	assert.Equal(t, StockView{SKU: "SKU-RED", Available: 97}, stock(t, c, "SKU-RED"), "three orders, one unit each: duplicates had no effect")

	// Each bad message is poisoned once by every consumer of order.placed.
	consumers := ConsumersOf(t, handlers.Table(), event.OrderPlacedName)
	wantPoisoned := 2 * len(consumers)
	var poisoned []*amqpbroker.Poisoned
	Eventually(t, 20*time.Second, func() string {
		poisoned = poisonedOf(t, w)
		if len(poisoned) < wantPoisoned {
			return "the two bad messages are not poisoned yet"
		}
		return ""
	})
	time.Sleep(500 * time.Millisecond) // past any redelivery that should not happen
	poisoned = poisonedOf(t, w)
	require.Len(t, poisoned, wantPoisoned, "each bad message is poisoned once per consumer")
	byHandler := map[string]map[string]*amqpbroker.Poisoned{}
	for _, p := range poisoned {
		if byHandler[p.Handler] == nil {
			byHandler[p.Handler] = map[string]*amqpbroker.Poisoned{}
		}
		byHandler[p.Handler][p.ID] = p
		assert.Equal(t, event.OrderPlacedName, p.RoutingKey)
		assert.Equal(t, 1, p.Attempts)
	}
	for _, h := range consumers {
		assert.Len(t, byHandler[h], 2, "%s poisoned both bad messages", h)
	}
	reasons := byHandler[handlers.InventoryReserve]
	require.Contains(t, reasons, "foreign-bad-json")
	require.Contains(t, reasons, "foreign-bad-rule")
	assert.Equal(t, "decode order.placed: invalid character 'n' looking for beginning of object key string", reasons["foreign-bad-json"].Reason)
	assert.Equal(t, "items[0].quantity must be 1..1000", reasons["foreign-bad-rule"].Reason)
	assert.Equal(t, 0.0, CounterValueWith(t, w.Registry, "orderflow_messages_total", map[string]string{"outcome": "failed"}), "nothing was handed back, so nothing looped")
	r := c.Must(t, http.MethodGet, "/orders/ord-f6", nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "an unknown routing key reaches no handler")
}

func poisonedOf(t *testing.T, w *TestWorker) []*amqpbroker.Poisoned {
	t.Helper()
	q, err := amqpbroker.DialPoisonQueue([]string{amqpTapOf(w.Tap).url}, nil)
	require.NoError(t, err)
	defer q.Close()
	list, err := q.List()
	require.NoError(t, err)
	out := make([]*amqpbroker.Poisoned, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}
