package tests

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// TestRedelivery_after_every_mark_expired_has_no_second_effect: an order.placed that
// comes back after its dedup marks (24 h) and its closed reservation (7 d) have expired,
// here deleted to the same effect, neither reserves nor sells its stock again: the
// order, which never expires, has ended.
func TestRedelivery_after_every_mark_expired_has_no_second_effect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := RedisClient(t)
	broker, closeBroker := worker.NewInprocBroker(Logger())
	t.Cleanup(closeBroker)
	w := StartOn(t, TestConfig(), handlers.Table(), broker, worker.NewInprocTransport(broker), worker.RedisStorage(client))
	c := NewClient(w.URL())
	notified := w.Subscribe(t, event.NotificationSentName)
	before := stock(t, c, "SKU-RED")

	placed := forged(t, event.OrderPlaced{
		OrderID: "ord-old", CustomerID: "cust-old", Currency: "USD", PlacedAt: "2026-11-01T10:00:00Z",
		Items: []event.Item{{SKU: "SKU-RED", Quantity: 2, UnitPriceCents: 100}}, TotalCents: 200,
	})
	w.Tap.PublishUnsigned(t, event.OrderPlacedName, placed)
	awaitStatus(t, c, "ord-old", "confirmed", 20*time.Second)
	Receive(t, notified)
	require.Equal(t, before.Available-2, stock(t, c, "SKU-RED").Available)

	var expired []string
	for _, pattern := range []string{redisstore.DedupKeyPrefix + "*", "orderflow:{inventory}:reservation:*"} {
		keys, err := client.Keys(ctx, pattern).Result()
		require.NoError(t, err)
		expired = append(expired, keys...)
	}
	require.NotEmpty(t, expired)
	require.NoError(t, client.Del(ctx, expired...).Err())

	handled := w.Counter(t, "orderflow_messages_total", handlers.InventoryReserve)
	w.Tap.PublishUnsigned(t, event.OrderPlacedName, message.NewMessage(placed.UUID, placed.Payload))
	Eventually(t, 20*time.Second, func() string {
		if w.Counter(t, "orderflow_messages_total", handlers.InventoryReserve) <= handled {
			return "the redelivery is not handled yet"
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond) // past anything it might have set off
	assert.Equal(t, StockView{SKU: "SKU-RED", Available: before.Available - 2}, stock(t, c, "SKU-RED"), "sold once, nothing reserved again")
	assert.Equal(t, "confirmed", awaitStatus(t, c, "ord-old", "confirmed", time.Second).Status)
	select {
	case n := <-notified:
		t.Errorf("a second notification: %s", n.Payload)
	default:
	}
}
