// Package app holds the use cases of the order pipeline, one per file, written against
// the ports of domain/ and the two below. Handlers and the HTTP API call them; they never
// see a message or a request.
package app

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/notification"
	"github.com/orderflow/orderflow/domain/order"
	"github.com/orderflow/orderflow/domain/payment"
)

// EventPublisher sends events to the broker. Publish returns once the broker has taken
// them; an error means they may not have been sent.
type EventPublisher interface {
	Publish(ctx context.Context, events ...event.Event) error
}

type idempotencyKeyCtx struct{}

// WithIdempotencyKey marks ctx as serving a request with key, so that what it publishes
// has ids derived from the key: a request served twice publishes the same message.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

// IdempotencyKeyFrom returns the key of WithIdempotencyKey, or "".
func IdempotencyKeyFrom(ctx context.Context) string {
	key, _ := ctx.Value(idempotencyKeyCtx{}).(string)
	return key
}

// Stores are the repositories the use cases need.
type Stores struct {
	Orders        order.Repository
	Inventory     inventory.Repository
	Payments      payment.Repository
	Notifications notification.Repository
	// IdempotencyKeys holds each Idempotency-Key's answer.
	IdempotencyKeys lease.Store
}

// OrderIDSecret keys the derivation of an order id from an Idempotency-Key, so that ids
// cannot be guessed from keys.
type OrderIDSecret []byte

// Clock returns the current time; tests pass a fixed one.
type Clock func() time.Time

// Observer is told what operators watch about orders; the worker counts it in
// Prometheus, so that neither the use cases nor domain/ depend on a metrics library.
type Observer interface {
	// OrderEnded is told when an order becomes terminal, once per order, by the use case
	// that ended it: how (confirmed, out_of_stock or payment_declined) and how long after
	// it was placed (0 when the producer's clock put placed_at after the end).
	OrderEnded(outcome string, sincePlaced time.Duration)
}

// orderEnded tells observer, when there is one, that o has just ended; an order whose
// placed time is not known (stored before it was kept) is not measured.
func orderEnded(observer Observer, o *order.Order, outcome string) {
	if observer == nil || o.PlacedAt().IsZero() {
		return
	}
	observer.OrderEnded(outcome, max(o.UpdatedAt().Sub(o.PlacedAt()), 0))
}

// Application is every use case, ready to be called.
type Application struct {
	PlaceOrder     PlaceOrder
	ReserveStock   ReserveStock
	CapturePayment CapturePayment
	ConfirmOrder   ConfirmOrder
	ReleaseStock   ReleaseStock
	CancelOrder    CancelOrder
	Notify         Notify
	Queries        Queries
}

// New wires the use cases to their stores; observer may be nil.
func New(stores Stores, provider payment.Provider, publisher EventPublisher, now Clock, orderIDs OrderIDSecret, observer Observer) *Application {
	if now == nil {
		now = time.Now
	}
	return &Application{
		PlaceOrder:     PlaceOrder{publisher: publisher, keys: stores.IdempotencyKeys, now: now, orderIDs: orderIDs},
		ReserveStock:   ReserveStock{orders: stores.Orders, inventory: stores.Inventory, now: now},
		CapturePayment: CapturePayment{orders: stores.Orders, payments: stores.Payments, provider: provider, now: now},
		ConfirmOrder:   ConfirmOrder{orders: stores.Orders, inventory: stores.Inventory, now: now, observer: observer},
		ReleaseStock:   ReleaseStock{inventory: stores.Inventory},
		CancelOrder:    CancelOrder{orders: stores.Orders, now: now, observer: observer},
		Notify:         Notify{notifications: stores.Notifications, now: now},
		Queries:        Queries{stores: stores},
	}
}
