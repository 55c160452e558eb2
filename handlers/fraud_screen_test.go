package handlers_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/handlers/handlertest"
	"github.com/orderflow/orderflow/tests"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func placedOrder(id, customer string, cents int64) event.OrderPlaced {
	return event.OrderPlaced{
		OrderID: id, CustomerID: customer, Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z",
		Items: []event.Item{{SKU: "SKU-RED", Quantity: 1, UnitPriceCents: cents}}, TotalCents: cents,
	}
}

func TestFraudScreen_flags_a_total_above_the_limit(t *testing.T) {
	t.Parallel()
	rig := handlertest.Run(t, handlertest.Row(t, handlers.FraudScreen))

	out := rig.Handle(t, "m-big", placedOrder("ord-big", "cust-1", 500001))
	require.Len(t, out, 1)
	var f handlers.FraudFlagged
	require.NoError(t, json.Unmarshal(out[0].Payload, &f))
	assert.Equal(t, handlers.FraudFlagged{OrderID: "ord-big", CustomerID: "cust-1", Reason: handlers.ReasonTotalAboveLimit}, f)
	assert.Equal(t, "m-big", out[0].Metadata.Get(envelope.CausationIDKey))

	assert.Empty(t, rig.Handle(t, "m-ok", placedOrder("ord-ok", "cust-1", 500000)), "at the limit publishes nothing")
	assert.Empty(t, rig.Poisoned(t))
}

func TestFraudScreen_counts_a_customers_orders_within_the_window(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		Name string
		Opt  func(t *testing.T) handlertest.Option
	}{
		{"memory", func(*testing.T) handlertest.Option { return handlertest.WithConfig(tests.TestConfig()) }},
		{"redis", func(t *testing.T) handlertest.Option {
			return handlertest.WithStorage(worker.RedisStorage(tests.RedisClient(t)))
		}},
	} {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			rig := handlertest.Run(t, handlertest.Row(t, handlers.FraudScreen),
				handlertest.WithSettings("max_orders: 2\nwindow: 1m"), handlertest.WithClock(clock.Now), backend.Opt(t))
			reason := func(id string) string {
				out := rig.Handle(t, "m-"+id, placedOrder(id, "cust-9", 100))
				if len(out) == 0 {
					return ""
				}
				var f handlers.FraudFlagged
				require.NoError(t, json.Unmarshal(out[0].Payload, &f))
				return f.Reason
			}
			assert.Equal(t, "", reason("ord-1"))
			clock.Advance(10 * time.Second)
			assert.Equal(t, "", reason("ord-2"))
			clock.Advance(10 * time.Second)
			assert.Equal(t, handlers.ReasonTooManyOrders, reason("ord-3"), "a third order within a minute")

			// ord-2 again under another message id (a foreign producer's retry): counted
			// once, and its decision stands.
			out := rig.Handle(t, "m-ord-2-again", placedOrder("ord-2", "cust-9", 100))
			assert.Empty(t, out, "the first decision on ord-2 stands")
			out = rig.Handle(t, "m-ord-3-again", placedOrder("ord-3", "cust-9", 100))
			require.Len(t, out, 1, "the first decision on ord-3 stands")

			clock.Advance(2 * time.Minute)
			assert.Equal(t, "", reason("ord-4"), "the earlier orders are out of the window")
			assert.Equal(t, "", reason("ord-5"), "a second order within the window")
			assert.Equal(t, handlers.ReasonTooManyOrders, reason("ord-6"), "a third one")
		})
	}
}

func TestFraudScreen_a_duplicate_has_no_second_effect(t *testing.T) {
	t.Parallel()
	rig := handlertest.Run(t, handlertest.Row(t, handlers.FraudScreen), handlertest.WithSettings("max_orders: 1"))
	require.Empty(t, rig.Handle(t, "m-1", placedOrder("ord-1", "cust-1", 100)))
	rig.Publish(t, "m-1", placedOrder("ord-1", "cust-1", 100))
	rig.AwaitHandled(t, "m-1", 2)
	assert.Equal(t, 1.0, rig.Worker.Counter(t, "orderflow_messages_duplicate_total", handlers.FraudScreen))
	assert.Empty(t, rig.Handle(t, "m-1b", placedOrder("ord-1", "cust-1", 100)), "the first decision stands")
	n, err := rig.State().AddOnce(context.Background(), "customer:cust-1", "probe", time.Now(), 10*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "ord-1, delivered three times, is counted once")
}

func TestFraudScreen_poisons_an_order_that_breaks_a_rule(t *testing.T) {
	t.Parallel()
	rig := handlertest.Run(t, handlertest.Row(t, handlers.FraudScreen))
	bad := placedOrder("ord-1", "cust-1", 100)
	bad.TotalCents = 99
	assert.Empty(t, rig.Handle(t, "m-bad", bad))
	poisoned := rig.Poisoned(t)
	require.Len(t, poisoned, 1)
	assert.Equal(t, handlers.FraudScreen, poisoned[0].Metadata.Get(envelope.PoisonHandlerKey))
	assert.Equal(t, "total_cents must equal the sum of quantity × unit_price_cents (100), got 99", poisoned[0].Metadata.Get(envelope.PoisonReasonKey))
}

func TestFraudScreen_refuses_bad_settings_at_start_up(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ Settings, Err string }{
		{"max_orders: 0\nwindow: 0s\nflag_above_cents: -1",
			"handlers.fraud-screen.settings.flag_above_cents: must be >= 0, got -1\n" +
				"handlers.fraud-screen.settings.max_orders: must be >= 1, got 0\n" +
				"handlers.fraud-screen.settings.window: must be a positive duration such as 10m, got 0s"},
		{"max_order: 3", "handlers.fraud-screen.settings.max_order: no such setting (the settings are flag_above_cents, max_orders, window)"},
	} {
		_, err := handlertest.Start(t, handlertest.Row(t, handlers.FraudScreen), handlertest.WithSettings(tt.Settings))
		require.Error(t, err, tt.Settings)
		assert.Equal(t, tt.Err, err.Error())
	}
}
