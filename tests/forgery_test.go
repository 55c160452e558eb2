package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// forged returns e as a neighbour on the broker would send it: no signature.
func forged(t *testing.T, e event.Event, metadata ...string) *message.Message {
	t.Helper()
	body, err := json.Marshal(e)
	require.NoError(t, err)
	msg := message.NewMessage(uuid.NewString(), body)
	for i := 0; i+1 < len(metadata); i += 2 {
		msg.Metadata.Set(metadata[i], metadata[i+1])
	}
	return msg
}

// TestForged_internal_events_are_poisoned_never_applied: an event only Orderflow may
// publish, sent unsigned, signed with an unknown key or tampered with after signing, is
// poisoned with a reason that starts with "signature" and changes nothing.
func TestForged_internal_events_are_poisoned_never_applied(t *testing.T) {
	t.Parallel()
	for _, env := range Envs() {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			w := env.Start(t, nil, handlers.Table())
			c := NewClient(w.URL())
			before := stock(t, c, "SKU-RED")

			unsigned := []*message.Message{
				// It would cancel an order that does not exist and notify its "customer".
				forged(t, event.OrderCancelled{OrderID: "ord-ghost", CustomerID: "victim", Reason: "click here"}),
				// It would record a capture and sell stock for an order nobody paid.
				forged(t, event.PaymentCaptured{OrderID: "ord-ghost", CustomerID: "victim", PaymentID: "pay-x", AmountCents: 1, Currency: "USD"}),
				forged(t, event.InventoryRejected{OrderID: "ord-ghost", CustomerID: "victim", SKU: "SKU-RED", Requested: 1}),
			}
			for _, msg := range unsigned {
				w.Tap.PublishUnsigned(t, topicOf(t, msg), msg)
			}
			wrongKey := forged(t, event.OrderCancelled{OrderID: "ord-ghost-2", CustomerID: "victim", Reason: "x"},
				envelope.SignatureKey, strings.Repeat("ab", 32), envelope.KeyIDKey, "stolen")
			w.Tap.PublishUnsigned(t, event.OrderCancelledName, wrongKey)

			// A signed event whose body was changed after signing.
			tampered := forged(t, event.OrderCancelled{OrderID: "ord-ghost-3", CustomerID: "victim", Reason: "x"})
			handlers.Sign(w.Keys, event.OrderCancelledName, tampered)
			tampered.Payload = []byte(strings.Replace(string(tampered.Payload), "ord-ghost-3", "ord-ghost-4", 1))
			w.Tap.PublishUnsigned(t, event.OrderCancelledName, tampered)

			reasons := map[string]string{}
			Eventually(t, 20*time.Second, func() string {
				for _, p := range w.Tap.Poisoned(t) {
					reasons[p.UUID] = p.Metadata.Get(envelope.PoisonReasonKey)
				}
				if len(reasons) < 5 {
					return "not every forgery is poisoned yet"
				}
				return ""
			})
			for _, msg := range unsigned {
				assert.True(t, strings.HasPrefix(reasons[msg.UUID], "signature missing"), "unsigned %s: %q", topicOf(t, msg), reasons[msg.UUID])
			}
			assert.True(t, strings.HasPrefix(reasons[wrongKey.UUID], "signature key unknown"), reasons[wrongKey.UUID])
			assert.True(t, strings.HasPrefix(reasons[tampered.UUID], "signature does not match"), reasons[tampered.UUID])

			r := c.Must(t, http.MethodGet, "/notifications?customer_id=victim", nil)
			assert.JSONEq(t, `{"customer_id": "victim", "notifications": []}`, string(r.Body), "no forged notification")
			assert.Equal(t, http.StatusNotFound, c.Must(t, http.MethodGet, "/orders/ord-ghost", nil).Status)
			assert.Equal(t, before, stock(t, c, "SKU-RED"), "no forged event moved stock")
			assert.Empty(t, ledgerCaptures(t, w, false), "no capture recorded")
		})
	}
}

func topicOf(t *testing.T, msg *message.Message) string {
	t.Helper()
	var probe map[string]any
	require.NoError(t, json.Unmarshal(msg.Payload, &probe))
	switch {
	case probe["payment_id"] != nil:
		return event.PaymentCapturedName
	case probe["sku"] != nil:
		return event.InventoryRejectedName
	}
	return event.OrderCancelledName
}

// TestUnsigned_order_placed_cannot_steer_orderflow: a foreign order.placed is accepted,
// but the headers only Orderflow may set are dropped: a forged replay id does not make a
// duplicate look new, a forged redelivery count does not skip the retry tiers.
func TestUnsigned_order_placed_cannot_steer_orderflow(t *testing.T) {
	t.Parallel()
	for _, env := range Envs() {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			w := env.Start(t, nil, handlers.Table())
			c := NewClient(w.URL())
			before := stock(t, c, "SKU-RED")
			order := event.OrderPlaced{
				OrderID: "ord-steer", CustomerID: "cust-steer", Currency: "USD", PlacedAt: "2026-12-01T10:00:00Z",
				Items: []event.Item{{SKU: "SKU-RED", Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100,
			}
			first := forged(t, order)
			w.Tap.PublishUnsigned(t, event.OrderPlacedName, first)
			awaitStatus(t, c, "ord-steer", "confirmed", 20*time.Second)

			again := forged(t, order,
				envelope.ReplayHandlerKey, handlers.InventoryReserve, envelope.ReplayIDKey, "forged",
				envelope.RedeliveriesKey, "99", envelope.AttemptsBeforeKey, "99")
			again.UUID = first.UUID
			w.Tap.PublishUnsigned(t, event.OrderPlacedName, again)
			Eventually(t, 20*time.Second, func() string {
				if w.Counter(t, "orderflow_messages_duplicate_total", handlers.InventoryReserve) < 1 {
					return "the copy with forged replay headers is not dropped as a duplicate yet"
				}
				return ""
			})
			after := stock(t, c, "SKU-RED")
			assert.Equal(t, before.Available-1, after.Available, "one unit sold, once")
			assert.Empty(t, w.Tap.Poisoned(t))
		})
	}
}

// TestUnsigned_order_placed_goes_through_every_retry_tier: a foreign order.placed whose
// handler keeps failing transiently is parked in each retry tier and then poisoned, with
// a forged redelivery count or without: the copies Orderflow parks carry its own
// signature, so the count it adds counts, and the one a producer sent does not.
func TestUnsigned_order_placed_goes_through_every_retry_tier(t *testing.T) {
	t.Parallel()
	const name = "always-fails"
	failing := handlers.Definition{
		Name: name,
		New: func(handlers.Deps) (handlers.Handler, error) {
			return handlers.NewHandler(handlers.On(func(context.Context, event.OrderPlaced) (event.Event, error) {
				return nil, errors.New("provider timed out")
			})), nil
		},
		Chain: handlers.Standard,
	}
	cfg := AMQPConfig(t, nil)
	cfg.HandlerDefaults.Retry.MaxAttempts = 1
	w := StartAMQP(t, cfg, []handlers.Definition{failing})
	order := event.OrderPlaced{
		OrderID: "ord-tiers", CustomerID: "cust-tiers", Currency: "USD", PlacedAt: "2026-12-01T10:00:00Z",
		Items: []event.Item{{SKU: "SKU-RED", Quantity: 1, UnitPriceCents: 100}}, TotalCents: 100,
	}
	honest := forged(t, order)
	skipping := forged(t, order, envelope.RedeliveriesKey, "99", envelope.AttemptsBeforeKey, "99")
	w.Tap.PublishUnsigned(t, event.OrderPlacedName, honest)
	w.Tap.PublishUnsigned(t, event.OrderPlacedName, skipping)

	var poisoned []*message.Message
	Eventually(t, 20*time.Second, func() string {
		poisoned = w.Tap.Poisoned(t)
		if len(poisoned) < 2 {
			return fmt.Sprintf("%d of 2 poisoned", len(poisoned))
		}
		return ""
	})
	tiers := len(cfg.AMQP.RetryDelays)
	for _, p := range poisoned {
		assert.Equal(t, "provider timed out", p.Metadata.Get(envelope.PoisonReasonKey))
		assert.Equal(t, strconv.Itoa(tiers+1), p.Metadata.Get(envelope.PoisonAttemptsKey),
			"%s: one attempt per delivery, the first and one per tier", p.UUID)
	}
	assert.Equal(t, float64(2*tiers), CounterValueWith(t, w.Registry, "orderflow_messages_total", map[string]string{"handler": name, "outcome": "parked"}),
		"each message parked once per tier, the forged count ignored")
}
