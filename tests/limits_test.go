package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// TestAMQP_limits_poison_what_is_over_them: a foreign producer sends order.placed with a
// 32 MiB body, with 10,000 headers, and with one header of 20 KiB. None reaches a handler
// and none is lost: each consumer of order.placed poisons each with a reason that names
// the limit, keeping a bounded copy, and acks it; a normal order still confirms, and so
// does one whose producer marked it rejected itself.
func TestAMQP_limits_poison_what_is_over_them(t *testing.T) {
	t.Parallel()
	w := StartAMQP(t, nil, handlers.Table())
	c := NewClient(w.URL())
	producer := newForeignProducer(t, amqpTapOf(w.Tap).url)
	publish := func(id string, body []byte, headers amqp.Table) {
		producer.publish(t, event.OrderPlacedName, amqp.Publishing{
			MessageId: id, ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body, Headers: headers,
		})
	}

	// Each body is a valid order, so only the limits keep it from being placed.
	bigBody := placedBody(t, "ord-lim-body")
	bigBody = append(bigBody, bytes.Repeat([]byte(" "), 32<<20-len(bigBody))...)
	publish("lim-body", bigBody, nil)
	many := make(amqp.Table, 10000)
	for i := range 10000 {
		many[fmt.Sprintf("h%d", i)] = int8(1)
	}
	publish("lim-headers", placedBody(t, "ord-lim-headers"), many)
	publish("lim-header", placedBody(t, "ord-lim-header"), amqp.Table{"x-small": "kept", "x-big": strings.Repeat("v", 20<<10)})
	publish("lim-forged", placedBody(t, "ord-lim-forged"), amqp.Table{envelope.RejectedKey: "forged by the producer"})
	publish("lim-ok", placedBody(t, "ord-lim-ok"), nil)

	awaitStatus(t, c, "ord-lim-ok", "confirmed", 20*time.Second)
	awaitStatus(t, c, "ord-lim-forged", "confirmed", 20*time.Second)

	consumers := ConsumersOf(t, handlers.Table(), event.OrderPlacedName)
	want := map[string]string{
		"lim-body":    "body of 33554432 bytes is over amqp.max_body_bytes (65536)",
		"lim-headers": "10000 headers are over amqp.max_headers (64); headers of ",
		"lim-header":  "headers of 20496 bytes are over amqp.max_header_bytes (16384)",
	}
	var poisoned []*message.Message
	Eventually(t, 20*time.Second, func() string {
		poisoned = w.Tap.Poisoned(t)
		if len(poisoned) < len(want)*len(consumers) {
			return fmt.Sprintf("%d of %d copies poisoned", len(poisoned), len(want)*len(consumers))
		}
		return ""
	})
	time.Sleep(500 * time.Millisecond) // past any redelivery that should not happen
	poisoned = w.Tap.Poisoned(t)
	require.Len(t, poisoned, len(want)*len(consumers), "each message is poisoned once by each consumer of order.placed")

	byHandler := map[string]map[string]*message.Message{}
	for _, p := range poisoned {
		h := p.Metadata.Get(envelope.PoisonHandlerKey)
		if byHandler[h] == nil {
			byHandler[h] = map[string]*message.Message{}
		}
		byHandler[h][p.UUID] = p
		assert.Equal(t, event.OrderPlacedName, p.Metadata.Get(envelope.PoisonRoutingKeyKey))
		assert.Equal(t, "0", p.Metadata.Get(envelope.PoisonAttemptsKey), "no handler attempt")
		_, err := time.Parse(time.RFC3339Nano, p.Metadata.Get(envelope.PoisonedAtKey))
		assert.NoError(t, err)
		assert.LessOrEqual(t, len(p.Payload), 65536, "the copy keeps a bounded prefix of the body")
		assert.LessOrEqual(t, len(p.Metadata), 64, "the copy keeps only bounded headers")
		assert.Empty(t, p.Metadata.Get(envelope.RejectedKey))
	}
	for _, h := range consumers {
		require.Len(t, byHandler[h], len(want), "%s poisoned each message over the limits", h)
		for id, reason := range want {
			require.Contains(t, byHandler[h], id)
			got := byHandler[h][id]
			assert.True(t, strings.HasPrefix(got.Metadata.Get(envelope.PoisonReasonKey), reason), "%s: %q", id, got.Metadata.Get(envelope.PoisonReasonKey))
		}
		assert.Equal(t, bigBody[:65536], []byte(byHandler[h]["lim-body"].Payload), "the body's first max_body_bytes")
		assert.Equal(t, placedBody(t, "ord-lim-header"), []byte(byHandler[h]["lim-header"].Payload), "a body within its limit is kept whole")
		assert.Equal(t, "kept", byHandler[h]["lim-header"].Metadata.Get("x-small"))
		assert.Empty(t, byHandler[h]["lim-header"].Metadata.Get("x-big"))
		assert.Equal(t, 3.0, w.Counter(t, "orderflow_messages_poisoned_total", h), "%s counts what it poisons", h)
		rejected := CounterValueWith(t, w.Registry, "orderflow_messages_total", map[string]string{"handler": h, "outcome": "rejected"})
		assert.Equal(t, 3.0, rejected, "%s counts what it poisons before its chain as rejected", h)
		assert.Equal(t, 2.0, w.Counter(t, "orderflow_messages_total", h)-rejected, "%s's chain saw only the two messages within the limits", h)
	}
	for _, id := range []string{"ord-lim-body", "ord-lim-headers", "ord-lim-header"} {
		assert.Equal(t, http.StatusNotFound, c.Must(t, http.MethodGet, "/orders/"+id, nil).Status, "%s was never placed", id)
	}
}
