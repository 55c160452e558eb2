package app

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/order"
)

// ConfirmOrder ends a paid order: its reservation becomes a sale and the order is
// confirmed.
type ConfirmOrder struct {
	orders    order.Repository
	inventory inventory.Repository
	now       Clock
	observer  Observer
}

// Handle returns order.confirmed. Both steps are idempotent, so a retry after a failure
// between them finishes the job. The order is read first, so that the message's dedup
// claim goes with that read and the confirmation compares against it (app/inbox).
//
// The stock is committed while that read is under way, not after it: committing changes
// nothing unless the order's reservation is still held, so a duplicate that the claim
// then turns away has changed nothing, and the order waits for one round trip less.
func (h ConfirmOrder) Handle(ctx context.Context, e event.PaymentCaptured) (event.Event, error) {
	committed := alongside(ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, h.inventory.Commit(ctx, e.OrderID)
	})
	_, err := h.orders.Get(ctx, order.ID(e.OrderID))
	_, commitErr := committed()
	if err != nil {
		return nil, fmt.Errorf("load order %s: %w", e.OrderID, err)
	}
	if commitErr != nil {
		return nil, fmt.Errorf("commit stock of %s: %w", e.OrderID, commitErr)
	}
	// Set by the change that is stored (Update may run it again on a conflict), so a
	// retry that finds the order confirmed already is not counted twice.
	var ended bool
	o, err := h.orders.Update(ctx, order.ID(e.OrderID), func(o *order.Order) error {
		ended = !o.Status().IsTerminal()
		if err := o.Confirm(h.now()); err != nil {
			return err
		}
		// The confirmation is the message's last write (app/inbox).
		return inbox.Last(ctx, event.OrderConfirmed{OrderID: e.OrderID, CustomerID: string(o.CustomerID())})
	})
	if err != nil {
		return nil, fmt.Errorf("confirm %s: %w", e.OrderID, err)
	}
	if ended {
		orderEnded(h.observer, o, order.Confirmed.String())
	}
	return event.OrderConfirmed{OrderID: e.OrderID, CustomerID: string(o.CustomerID())}, nil
}
