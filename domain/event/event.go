// Package event defines the events of the order pipeline as Go types, with their names
// and JSON bodies. The names are the routing keys (README.md, "The flow").
package event

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/order"
)

// The event names, `entity.action`.
const (
	OrderPlacedName       = "order.placed"
	InventoryReservedName = "inventory.reserved"
	InventoryRejectedName = "inventory.rejected"
	PaymentCapturedName   = "payment.captured"
	PaymentFailedName     = "payment.failed"
	InventoryReleasedName = "inventory.released"
	OrderConfirmedName    = "order.confirmed"
	OrderCancelledName    = "order.cancelled"
	NotificationSentName  = "notification.sent"
)

// Event is any event of the pipeline.
type Event interface {
	EventName() string
}

// Item is one line of an order as it travels in events.
type Item struct {
	SKU            string `json:"sku"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// OrderPlaced is the entry event. Its JSON is fixed by the contract because foreign
// producers send it.
type OrderPlaced struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	PlacedAt   string `json:"placed_at"`
}

// InventoryReserved says that every item of the order is held for it.
type InventoryReserved struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
}

// InventoryRejected says that an item was short and nothing was reserved.
type InventoryRejected struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	SKU        string `json:"sku"`
	Requested  int64  `json:"requested"`
	Available  int64  `json:"available"`
}

// PaymentCaptured says that the order was charged.
type PaymentCaptured struct {
	OrderID     string `json:"order_id"`
	CustomerID  string `json:"customer_id"`
	PaymentID   string `json:"payment_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// PaymentFailed says that the charge was declined or the provider failed for good.
type PaymentFailed struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// InventoryReleased says that the order's reservation went back to available stock.
type InventoryReleased struct {
	OrderID string `json:"order_id"`
}

// OrderConfirmed is terminal: the order is paid and its stock sold.
type OrderConfirmed struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
}

// OrderCancelled is terminal, with the reason.
type OrderCancelled struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// NotificationSent says that the customer was told the order's final status.
type NotificationSent struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Status     string `json:"status"`
}

func (OrderPlaced) EventName() string       { return OrderPlacedName }
func (InventoryReserved) EventName() string { return InventoryReservedName }
func (InventoryRejected) EventName() string { return InventoryRejectedName }
func (PaymentCaptured) EventName() string   { return PaymentCapturedName }
func (PaymentFailed) EventName() string     { return PaymentFailedName }
func (InventoryReleased) EventName() string { return InventoryReleasedName }
func (OrderConfirmed) EventName() string    { return OrderConfirmedName }
func (OrderCancelled) EventName() string    { return OrderCancelledName }
func (NotificationSent) EventName() string  { return NotificationSentName }

// Decode parses a JSON body into an event of type T. A body that is not JSON of that shape
// is a permanent *domain.MalformedError; so is one that names no valid order.
func Decode[T Event](payload []byte) (T, error) {
	var e T
	if err := json.Unmarshal(payload, &e); err != nil {
		return e, &domain.MalformedError{What: e.EventName(), Err: err}
	}
	if v, ok := any(e).(interface{ orderID() string }); ok {
		if _, err := order.ParseID(v.orderID()); err != nil {
			return e, domain.InField(e.EventName()+" order_id", err)
		}
	}
	return e, nil
}

func (e InventoryReserved) orderID() string { return e.OrderID }
func (e InventoryRejected) orderID() string { return e.OrderID }
func (e PaymentCaptured) orderID() string   { return e.OrderID }
func (e PaymentFailed) orderID() string     { return e.OrderID }
func (e InventoryReleased) orderID() string { return e.OrderID }
func (e OrderConfirmed) orderID() string    { return e.OrderID }
func (e OrderCancelled) orderID() string    { return e.OrderID }
func (e NotificationSent) orderID() string  { return e.OrderID }

// Validate checks every rule of the entry event and returns the order it places, or a
// *domain.RuleError naming the first rule broken, e.g. "items[0].quantity must be 1..1000".
func (e OrderPlaced) Validate() (order.Placed, error) {
	id, err := order.ParseID(e.OrderID)
	if err != nil {
		return order.Placed{}, domain.InField("order_id", err)
	}
	customer, err := order.ParseCustomerID(e.CustomerID)
	if err != nil {
		return order.Placed{}, domain.InField("customer_id", err)
	}
	lines, err := ParseItems(e.Items)
	if err != nil {
		return order.Placed{}, err
	}
	total, err := money.NewCents(e.TotalCents)
	if err != nil {
		return order.Placed{}, domain.InField("total_cents", err)
	}
	sum, err := order.SumLines(lines)
	if err != nil {
		return order.Placed{}, err
	}
	if sum != total {
		return order.Placed{}, domain.Rulef("total_cents must equal the sum of quantity × unit_price_cents (%d), got %d", sum, total)
	}
	currency, err := money.ParseCurrency(e.Currency)
	if err != nil {
		return order.Placed{}, domain.InField("currency", err)
	}
	placedAt, err := time.Parse(time.RFC3339, e.PlacedAt)
	if err != nil {
		return order.Placed{}, domain.Rulef("placed_at must be an RFC 3339 time")
	}
	return order.Placed{
		ID: id, CustomerID: customer, Lines: lines, Total: total, Currency: currency, PlacedAt: placedAt,
	}, nil
}

// ParseItems checks the item rules of the entry event: 1..100 items, each with a valid
// SKU, a quantity of 1..1000 and a non-negative unit price.
func ParseItems(items []Item) ([]order.Line, error) {
	if len(items) < 1 || len(items) > order.MaxLines {
		return nil, domain.Rulef("items must hold 1..%d items", order.MaxLines)
	}
	lines := make([]order.Line, len(items))
	for i, it := range items {
		field := fmt.Sprintf("items[%d].", i)
		sku, err := inventory.ParseSKU(it.SKU)
		if err != nil {
			return nil, domain.InField(field+"sku", err)
		}
		quantity, err := inventory.NewQuantity(it.Quantity)
		if err != nil {
			return nil, domain.InField(field+"quantity", err)
		}
		price, err := money.NewCents(it.UnitPriceCents)
		if err != nil {
			return nil, domain.InField(field+"unit_price_cents", err)
		}
		lines[i] = order.Line{SKU: sku, Quantity: quantity, UnitPrice: price}
	}
	return lines, nil
}
