package event_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/order"
)

// contractExample is the entry event exactly as README.md prints it for foreign producers.
const contractExample = `{"order_id": "ord-1001", "customer_id": "cust-42",
 "items": [{"sku": "SKU-RED", "quantity": 2, "unit_price_cents": 1999}],
 "total_cents": 3998, "currency": "USD", "placed_at": "2026-11-22T10:00:00Z"}`

func TestOrderPlaced_contract_example(t *testing.T) {
	t.Parallel()
	e, err := event.Decode[event.OrderPlaced]([]byte(contractExample))
	require.NoError(t, err)
	placed, err := e.Validate()
	require.NoError(t, err)
	assert.Equal(t, order.ID("ord-1001"), placed.ID)
	assert.Equal(t, order.CustomerID("cust-42"), placed.CustomerID)
	assert.Equal(t, money.Cents(3998), placed.Total)
	assert.Equal(t, "USD", placed.Currency.String())
	assert.Equal(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), placed.PlacedAt.UTC())
	require.Len(t, placed.Items(), 1)
	assert.EqualValues(t, 2, placed.Items()[0].Quantity)
}

func valid() event.OrderPlaced {
	return event.OrderPlaced{
		OrderID: "ord-1001", CustomerID: "cust-42",
		Items:      []event.Item{{SKU: "SKU-RED", Quantity: 2, UnitPriceCents: 1999}, {SKU: "SKU-BLUE", Quantity: 1, UnitPriceCents: 0}},
		TotalCents: 3998, Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z",
	}
}

func TestOrderPlaced_rules(t *testing.T) {
	t.Parallel()
	manyItems := make([]event.Item, 101)
	for i := range manyItems {
		manyItems[i] = event.Item{SKU: "SKU-RED", Quantity: 1, UnitPriceCents: 1}
	}
	tests := []struct {
		Name   string
		Change func(*event.OrderPlaced)
		Rule   string
	}{
		{"empty order_id", func(e *event.OrderPlaced) { e.OrderID = "" }, "order_id " + domain.IdentifierRule},
		{"order_id with space", func(e *event.OrderPlaced) { e.OrderID = "ord 1" }, "order_id " + domain.IdentifierRule},
		{"order_id of 65", func(e *event.OrderPlaced) { e.OrderID = strings.Repeat("o", 65) }, "order_id " + domain.IdentifierRule},
		{"empty customer_id", func(e *event.OrderPlaced) { e.CustomerID = "" }, "customer_id " + domain.IdentifierRule},
		{"customer_id with slash", func(e *event.OrderPlaced) { e.CustomerID = "a/b" }, "customer_id " + domain.IdentifierRule},
		{"no items", func(e *event.OrderPlaced) { e.Items = nil }, "items must hold 1..100 items"},
		{"101 items", func(e *event.OrderPlaced) { e.Items = manyItems; e.TotalCents = 101 }, "items must hold 1..100 items"},
		{"empty sku", func(e *event.OrderPlaced) { e.Items[1].SKU = "" }, "items[1].sku " + domain.IdentifierRule},
		{"sku of 65", func(e *event.OrderPlaced) { e.Items[0].SKU = strings.Repeat("S", 65) }, "items[0].sku " + domain.IdentifierRule},
		{"quantity 0", func(e *event.OrderPlaced) { e.Items[0].Quantity = 0 }, "items[0].quantity must be 1..1000"},
		{"quantity 1001", func(e *event.OrderPlaced) { e.Items[0].Quantity = 1001 }, "items[0].quantity must be 1..1000"},
		{"negative quantity", func(e *event.OrderPlaced) { e.Items[1].Quantity = -1 }, "items[1].quantity must be 1..1000"},
		{"negative unit price", func(e *event.OrderPlaced) { e.Items[0].UnitPriceCents = -1 }, "items[0].unit_price_cents must be >= 0"},
		{"wrong total", func(e *event.OrderPlaced) { e.TotalCents = 3999 }, "total_cents must equal the sum of quantity × unit_price_cents (3998), got 3999"},
		{"negative total", func(e *event.OrderPlaced) { e.TotalCents = -1 }, "total_cents must be >= 0"},
		{"lower-case currency", func(e *event.OrderPlaced) { e.Currency = "usd" }, "currency must be three upper-case letters"},
		{"two-letter currency", func(e *event.OrderPlaced) { e.Currency = "US" }, "currency must be three upper-case letters"},
		{"empty currency", func(e *event.OrderPlaced) { e.Currency = "" }, "currency must be three upper-case letters"},
		{"placed_at not a time", func(e *event.OrderPlaced) { e.PlacedAt = "yesterday" }, "placed_at must be an RFC 3339 time"},
		{"overflowing total", func(e *event.OrderPlaced) { e.Items[0].UnitPriceCents = 1 << 62 }, "total_cents overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			e := valid()
			e.Items = append([]event.Item(nil), e.Items...)
			tt.Change(&e)
			_, err := e.Validate()
			var rule *domain.RuleError
			require.ErrorAs(t, err, &rule)
			assert.Equal(t, tt.Rule, rule.Rule)
			assert.True(t, domain.IsPermanent(err), "a broken rule is never retried")
		})
	}
}

func TestOrderPlaced_valid_edges(t *testing.T) {
	t.Parallel()
	e := valid()
	e.Items = []event.Item{{SKU: "S", Quantity: 1000, UnitPriceCents: 0}}
	e.TotalCents = 0
	_, err := e.Validate()
	assert.NoError(t, err, "quantity 1000 at price 0 is a valid order")
}

func TestDecode_malformed_is_permanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name string
		Body string
	}{
		{"not json", "not json"},
		{"truncated", `{"order_id": "ord-1"`},
		{"wrong type", `{"order_id": 7}`},
		{"array", `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			_, err := event.Decode[event.OrderPlaced]([]byte(tt.Body))
			var malformed *domain.MalformedError
			require.ErrorAs(t, err, &malformed)
			assert.True(t, domain.IsPermanent(err))
			assert.Contains(t, err.Error(), "decode order.placed: ")
		})
	}
}

func TestDecode_checks_order_id_of_follow_up_events(t *testing.T) {
	t.Parallel()
	_, err := event.Decode[event.PaymentCaptured]([]byte(`{"order_id": "bad id"}`))
	assert.EqualError(t, err, "payment.captured order_id "+domain.IdentifierRule)
	assert.True(t, domain.IsPermanent(err))

	e, err := event.Decode[event.PaymentCaptured]([]byte(`{"order_id": "ord-1", "amount_cents": 5}`))
	require.NoError(t, err)
	assert.Equal(t, event.PaymentCaptured{OrderID: "ord-1", AmountCents: 5}, e)
}

func TestEvents_names_and_round_trip(t *testing.T) {
	t.Parallel()
	events := map[string]event.Event{
		"order.placed":       valid(),
		"inventory.reserved": event.InventoryReserved{OrderID: "o", Items: valid().Items},
		"inventory.rejected": event.InventoryRejected{OrderID: "o", SKU: "S", Requested: 3, Available: 1},
		"payment.captured":   event.PaymentCaptured{OrderID: "o", PaymentID: "p"},
		"payment.failed":     event.PaymentFailed{OrderID: "o", Reason: "declined"},
		"inventory.released": event.InventoryReleased{OrderID: "o"},
		"order.confirmed":    event.OrderConfirmed{OrderID: "o"},
		"order.cancelled":    event.OrderCancelled{OrderID: "o", Reason: "out_of_stock"},
		"notification.sent":  event.NotificationSent{OrderID: "o", Status: "confirmed"},
	}
	for name, e := range events {
		assert.Equal(t, name, e.EventName())
		body, err := json.Marshal(e)
		require.NoError(t, err)
		assert.Contains(t, string(body), `"order_id":"`)
	}
}
