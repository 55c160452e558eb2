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

// New wires the use cases to their stores.
func New(stores Stores, provider payment.Provider, publisher EventPublisher, now Clock, orderIDs OrderIDSecret) *Application {
	if now == nil {
		now = time.Now
	}
	return &Application{
		PlaceOrder:     PlaceOrder{publisher: publisher, keys: stores.IdempotencyKeys, now: now, orderIDs: orderIDs},
		ReserveStock:   ReserveStock{orders: stores.Orders, inventory: stores.Inventory, now: now},
		CapturePayment: CapturePayment{orders: stores.Orders, payments: stores.Payments, provider: provider, now: now},
		ConfirmOrder:   ConfirmOrder{orders: stores.Orders, inventory: stores.Inventory, now: now},
		ReleaseStock:   ReleaseStock{inventory: stores.Inventory},
		CancelOrder:    CancelOrder{orders: stores.Orders, now: now},
		Notify:         Notify{notifications: stores.Notifications, now: now},
		Queries:        Queries{stores: stores},
	}
}
