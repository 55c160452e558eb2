package handlers_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/order"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/tests"
)

const orderID = "ord-1"

var items = []event.Item{{SKU: "SKU-RED", Quantity: 2, UnitPriceCents: 1999}}

// given puts an order in the stores at status, with its items reserved unless pending.
func given(t *testing.T, w *tests.TestWorker, status order.Status, total int64) {
	t.Helper()
	ctx := context.Background()
	stores := w.Storage.Stores
	usd, _ := money.ParseCurrency("USD")
	o, err := order.New(order.Placed{ID: orderID, CustomerID: "cust-1", Total: money.Cents(total), Currency: usd, PlacedAt: time.Now()}, time.Now())
	require.NoError(t, err)
	_, err = stores.Orders.Add(ctx, o)
	require.NoError(t, err)
	if status == order.Pending {
		return
	}
	outcome, err := stores.Inventory.Reserve(ctx, orderID, []inventory.Item{{SKU: "SKU-RED", Quantity: 2}})
	require.NoError(t, err)
	require.True(t, outcome.Reserved)
	_, err = stores.Orders.Update(ctx, orderID, func(o *order.Order) error {
		if err := o.MarkReserved(time.Now()); err != nil || status == order.Reserved {
			return err
		}
		return o.MarkPaid(time.Now())
	})
	require.NoError(t, err)
}

func publish(t *testing.T, w *tests.TestWorker, id, correlationID string, e event.Event) {
	t.Helper()
	publishWith(t, w, id, correlationID, e, nil)
}

// publishWith publishes e with extra metadata, e.g. what the AMQP subscriber sets.
func publishWith(t *testing.T, w *tests.TestWorker, id, correlationID string, e event.Event, metadata map[string]string) {
	t.Helper()
	body, err := json.Marshal(e)
	require.NoError(t, err)
	msg := message.NewMessage(id, body)
	if correlationID != "" {
		msg.Metadata.Set(envelope.CorrelationIDKey, correlationID)
	}
	for k, v := range metadata {
		msg.Metadata.Set(k, v)
	}
	w.Tap.Publish(t, e.EventName(), msg)
}

func TestHandlers_publish_next_event_with_ids(t *testing.T) {
	t.Parallel()
	tests_ := []struct {
		Name    string
		Handler string
		Given   order.Status
		Total   int64
		Input   event.Event
		// Want is the event the handler publishes; nil when it publishes nothing.
		Want event.Event
		// Then checks the stores after the handler ran.
		Then func(t *testing.T, w *tests.TestWorker)
		// MarkedAfterPublish: no write of the handler carries the dedup mark (the last
		// is in {inventory}, where no mark is, or there is none left), so Dedup commits
		// it after the publish, and a redelivery owes nothing.
		MarkedAfterPublish bool
	}{
		{
			Name: "inventory-reserve reserves", Handler: handlers.InventoryReserve,
			Input: event.OrderPlaced{OrderID: orderID, CustomerID: "cust-1", Items: items, TotalCents: 3998, Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z"},
			Want:  event.InventoryReserved{OrderID: orderID, CustomerID: "cust-1", Items: items, TotalCents: 3998, Currency: "USD"},
			Then: func(t *testing.T, w *tests.TestWorker) {
				assertStatus(t, w, order.Reserved, "")
				assertStock(t, w, "SKU-RED", 98, 2)
			},
		},
		{
			Name: "inventory-reserve rejects a shortfall", Handler: handlers.InventoryReserve,
			Input:              event.OrderPlaced{OrderID: orderID, CustomerID: "cust-1", Items: []event.Item{{SKU: "SKU-RED", Quantity: 1}, {SKU: "SKU-GREEN", Quantity: 6}}, Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z"},
			Want:               event.InventoryRejected{OrderID: orderID, CustomerID: "cust-1", SKU: "SKU-GREEN", Requested: 6, Available: 5},
			MarkedAfterPublish: true,
			Then: func(t *testing.T, w *tests.TestWorker) {
				assertStatus(t, w, order.Pending, "")
				assertStock(t, w, "SKU-RED", 100, 0)
			},
		},
		{
			Name: "payment-capture captures", Handler: handlers.PaymentCapture, Given: order.Reserved, Total: 3998,
			Input: event.InventoryReserved{OrderID: orderID, CustomerID: "cust-1", Items: items, TotalCents: 3998, Currency: "USD"},
			Want:  event.PaymentCaptured{OrderID: orderID, CustomerID: "cust-1", PaymentID: "pay-USD-ord-1", AmountCents: 3998, Currency: "USD"},
			Then: func(t *testing.T, w *tests.TestWorker) {
				assertStatus(t, w, order.Paid, "")
				require.Len(t, w.Payments.Ledger(), 1)
				assert.Equal(t, 1, w.Payments.Ledger()[0].Calls)
			},
		},
		{
			Name: "payment-capture declines above the threshold", Handler: handlers.PaymentCapture, Given: order.Reserved, Total: 100001,
			Input: event.InventoryReserved{OrderID: orderID, CustomerID: "cust-1", Items: items, TotalCents: 100001, Currency: "USD"},
			Want:  event.PaymentFailed{OrderID: orderID, CustomerID: "cust-1", Reason: "declined"},
			Then:  func(t *testing.T, w *tests.TestWorker) { assertStatus(t, w, order.Reserved, "") },
		},
		{
			Name: "order-confirm confirms", Handler: handlers.OrderConfirm, Given: order.Paid, Total: 3998,
			Input: event.PaymentCaptured{OrderID: orderID, CustomerID: "cust-1", PaymentID: "p", AmountCents: 3998, Currency: "USD"},
			Want:  event.OrderConfirmed{OrderID: orderID, CustomerID: "cust-1"},
			Then: func(t *testing.T, w *tests.TestWorker) {
				assertStatus(t, w, order.Confirmed, "")
				assertStock(t, w, "SKU-RED", 98, 0)
			},
		},
		{
			Name: "inventory-release releases", Handler: handlers.InventoryRelease, Given: order.Reserved,
			Input:              event.PaymentFailed{OrderID: orderID, CustomerID: "cust-1", Reason: "declined"},
			Want:               event.InventoryReleased{OrderID: orderID},
			MarkedAfterPublish: true,
			Then:               func(t *testing.T, w *tests.TestWorker) { assertStock(t, w, "SKU-RED", 100, 0) },
		},
		{
			Name: "order-cancel cancels out of stock", Handler: handlers.OrderCancel, Given: order.Pending,
			Input: event.InventoryRejected{OrderID: orderID, CustomerID: "cust-1", SKU: "SKU-RED", Requested: 2},
			Want:  event.OrderCancelled{OrderID: orderID, CustomerID: "cust-1", Reason: "out_of_stock"},
			Then:  func(t *testing.T, w *tests.TestWorker) { assertStatus(t, w, order.Cancelled, "out_of_stock") },
		},
		{
			Name: "order-cancel cancels a declined payment", Handler: handlers.OrderCancel, Given: order.Reserved,
			Input: event.PaymentFailed{OrderID: orderID, CustomerID: "cust-1", Reason: "declined"},
			Want:  event.OrderCancelled{OrderID: orderID, CustomerID: "cust-1", Reason: "payment_declined"},
			Then:  func(t *testing.T, w *tests.TestWorker) { assertStatus(t, w, order.Cancelled, "payment_declined") },
		},
		{
			Name: "notification-send tells a confirmation", Handler: handlers.NotificationSend,
			Input: event.OrderConfirmed{OrderID: orderID, CustomerID: "cust-1"},
			Want:  event.NotificationSent{OrderID: orderID, CustomerID: "cust-1", Status: "confirmed"},
			Then:  func(t *testing.T, w *tests.TestWorker) { assertNotified(t, w, "confirmed") },
		},
		{
			Name: "notification-send tells a cancellation", Handler: handlers.NotificationSend,
			Input: event.OrderCancelled{OrderID: orderID, CustomerID: "cust-1", Reason: "out_of_stock"},
			Want:  event.NotificationSent{OrderID: orderID, CustomerID: "cust-1", Status: "cancelled"},
			Then:  func(t *testing.T, w *tests.TestWorker) { assertNotified(t, w, "cancelled") },
		},
	}
	for _, env := range tests.Envs() {
		for _, tt := range tests_ {
			t.Run(env.Name+"/"+tt.Name, func(t *testing.T) {
				t.Parallel()
				w := env.Start(t, nil, []handlers.Definition{tests.Definition(t, tt.Handler)})
				if tt.Given != (order.Status{}) {
					given(t, w, tt.Given, tt.Total)
				}
				var out <-chan *message.Message
				var firstID string
				if tt.Want != nil {
					out = w.Tap.Subscribe(t, tt.Want.EventName())
				}

				publish(t, w, "msg-in-1", "corr-1", tt.Input)
				if tt.Want == nil {
					tests.Eventually(t, 5*time.Second, func() string {
						if w.Counter(t, "orderflow_messages_total", tt.Handler) < 1 {
							return tt.Handler + " has not handled the message yet"
						}
						return ""
					})
				} else {
					got := tests.Receive(t, out)
					want, err := json.Marshal(tt.Want)
					require.NoError(t, err)
					assert.JSONEq(t, string(want), string(got.Payload))
					assert.Equal(t, "corr-1", got.Metadata.Get(envelope.CorrelationIDKey), "correlation id copied")
					assert.Equal(t, "msg-in-1", got.Metadata.Get(envelope.CausationIDKey), "causation id is the id handled")
					assert.Equal(t, tt.Want.EventName(), got.Metadata.Get(envelope.EventNameKey))
					firstID = got.UUID
				}
				assert.Empty(t, w.Tap.Poisoned(t), "nothing poisoned")
				tt.Then(t, w)

				// The same message again is dropped by dedup: no second event, no second
				// effect.
				publish(t, w, "msg-in-1", "corr-1", tt.Input)
				tests.Eventually(t, 5*time.Second, func() string {
					if w.Counter(t, "orderflow_messages_duplicate_total", tt.Handler) != 1 {
						return "duplicate not dropped yet"
					}
					return ""
				})
				if out != nil {
					assert.Empty(t, out, "a duplicate publishes nothing")
				}
				tt.Then(t, w)

				// Redelivered by the broker, it may come from a worker that died between
				// its last write (which committed the mark) and its publish: it publishes
				// what the mark owes, the same event under the same id, and still has no
				// second effect (app/inbox).
				publishWith(t, w, "msg-in-1", "corr-1", tt.Input, map[string]string{envelope.RedeliveredKey: "true"})
				tests.Eventually(t, 5*time.Second, func() string {
					if w.Counter(t, "orderflow_messages_duplicate_total", tt.Handler) != 2 {
						return "redelivery not dropped yet"
					}
					return ""
				})
				// On RabbitMQ only the broker says redelivered: the subscriber drops the
				// header this test sends, so the copy is a plain duplicate there.
				owes := !tt.MarkedAfterPublish && env.Name != "amqp"
				if out != nil && owes {
					again := tests.Receive(t, out)
					assert.Equal(t, firstID, again.UUID, "the event owed, under its first id")
					want, err := json.Marshal(tt.Want)
					require.NoError(t, err)
					assert.JSONEq(t, string(want), string(again.Payload))
					assert.Empty(t, out, "once")
				} else if out != nil {
					time.Sleep(100 * time.Millisecond)
					assert.Empty(t, out, "a mark committed after the publish owes nothing; a forged redelivery publishes nothing")
				}
				tt.Then(t, w)
			})
		}
	}
}

func TestHandlers_event_ids_differ_per_message_handled(t *testing.T) {
	t.Parallel()
	w := tests.Start(t, nil, []handlers.Definition{tests.Definition(t, handlers.NotificationSend)})
	out := w.Tap.Subscribe(t, event.NotificationSentName)
	publish(t, w, "msg-a", "", event.OrderConfirmed{OrderID: "ord-a", CustomerID: "c"})
	first := tests.Receive(t, out)
	publish(t, w, "msg-b", "", event.OrderConfirmed{OrderID: "ord-b", CustomerID: "c"})
	second := tests.Receive(t, out)
	assert.NotEqual(t, first.UUID, second.UUID)
	assert.NotEmpty(t, first.Metadata.Get(envelope.CorrelationIDKey), "a correlation id is created when absent")
	assert.NotEqual(t, first.Metadata.Get(envelope.CorrelationIDKey), second.Metadata.Get(envelope.CorrelationIDKey))
}

func assertStatus(t *testing.T, w *tests.TestWorker, status order.Status, reason string) {
	t.Helper()
	o, err := w.Storage.Stores.Orders.Get(context.Background(), orderID)
	require.NoError(t, err)
	assert.Equal(t, status, o.Status())
	assert.Equal(t, reason, o.Reason().String())
}

func assertStock(t *testing.T, w *tests.TestWorker, sku inventory.SKU, available, reserved int64) {
	t.Helper()
	st, err := w.Storage.Stores.Inventory.Stock(context.Background(), sku)
	require.NoError(t, err)
	assert.Equal(t, available, st.Available, "available")
	assert.Equal(t, reserved, st.Reserved, "reserved")
}

func assertNotified(t *testing.T, w *tests.TestWorker, status string) {
	t.Helper()
	list, err := w.Storage.Stores.Notifications.ForCustomer(context.Background(), "cust-1")
	require.NoError(t, err)
	require.Len(t, list, 1, "one notification per order")
	assert.Equal(t, status, list[0].Status)
}
