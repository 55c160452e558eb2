package app

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/order"
)

// CancelOrder ends an order that cannot be fulfilled.
type CancelOrder struct {
	orders   order.Repository
	now      Clock
	observer Observer
}

// OutOfStock cancels the order with reason out_of_stock.
func (h CancelOrder) OutOfStock(ctx context.Context, e event.InventoryRejected) (event.Event, error) {
	return h.cancel(ctx, e.OrderID, order.OutOfStock)
}

// PaymentDeclined cancels the order with reason payment_declined.
func (h CancelOrder) PaymentDeclined(ctx context.Context, e event.PaymentFailed) (event.Event, error) {
	return h.cancel(ctx, e.OrderID, order.PaymentDeclined)
}

// cancel returns order.cancelled with the reason the order was first cancelled for.
func (h CancelOrder) cancel(ctx context.Context, id string, reason order.Reason) (event.Event, error) {
	// As in ConfirmOrder: only the change that ended the order counts.
	var ended bool
	o, err := h.orders.Update(ctx, order.ID(id), func(o *order.Order) error {
		ended = !o.Status().IsTerminal()
		if err := o.Cancel(reason, h.now()); err != nil {
			return err
		}
		// The cancellation is the message's last write (app/inbox).
		return inbox.Last(ctx, event.OrderCancelled{OrderID: id, CustomerID: string(o.CustomerID()), Reason: o.Reason().String()})
	})
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", id, err)
	}
	if ended {
		orderEnded(h.observer, o, o.Reason().String())
	}
	return event.OrderCancelled{OrderID: id, CustomerID: string(o.CustomerID()), Reason: o.Reason().String()}, nil
}
