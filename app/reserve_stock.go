package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/order"
)

// ReserveStock records a placed order as pending and reserves all of its items or none.
type ReserveStock struct {
	orders    order.Repository
	inventory inventory.Repository
	now       Clock
}

// Handle returns inventory.reserved or inventory.rejected. Run twice for one order, it
// changes nothing the second time and returns the same event; run for an order that has
// ended, it returns none and leaves the stock as it was, however long ago that was (the
// reservation's record and the dedup marks expire, the order does not).
//
// The order is recorded as pending on arrival, with the message's claim (app/inbox),
// while its stock is reserved; a reserved order is written once more, and that write is
// the message's last, so it carries the dedup mark. A crash in between leaves the order
// pending, and the redelivery reserves again, which the reservation's record makes a
// no-op.
//
// Reserving alongside the first write, not after it, saves the order a round trip in
// sequence, and is safe because the reservation's record makes a duplicate's reservation
// a no-op. Only an order that ended and whose record expired gets stock reserved anew;
// that is given back at once, as is any reservation still held by an ended order (only
// a cancelled one whose release has not run yet holds one).
func (h ReserveStock) Handle(ctx context.Context, e event.OrderPlaced) (event.Event, error) {
	placed, err := e.Validate()
	if err != nil {
		return nil, err
	}
	o, err := order.New(placed, h.now())
	if err != nil {
		return nil, err
	}
	reservation := alongside(ctx, func(ctx context.Context) (inventory.Outcome, error) {
		return h.inventory.Reserve(ctx, string(placed.ID), placed.Items())
	})
	stored, err := h.orders.Add(ctx, o)
	outcome, reserveErr := reservation()
	holds := reserveErr == nil && outcome.Reserved
	if err != nil {
		if holds && (errors.Is(err, inbox.ErrHeld) || errors.Is(err, inbox.ErrDone)) {
			// Another attempt has or had the message; if the order ended, that one
			// reserved nothing. (After any other error, the retry gets here again.)
			if err := h.releaseIfEnded(ctx, placed.ID); err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("record order %s: %w", placed.ID, err)
	}
	if stored.Status().IsTerminal() {
		if holds {
			return nil, h.release(ctx, placed.ID)
		}
		return nil, nil
	}
	if reserveErr != nil {
		return nil, fmt.Errorf("reserve %s: %w", placed.ID, reserveErr)
	}
	if !outcome.Reserved {
		// The order stays pending, for order-cancel; with nothing left to write, the
		// Dedup middleware commits the mark.
		return event.InventoryRejected{
			OrderID: e.OrderID, CustomerID: e.CustomerID, SKU: string(outcome.Shortage.SKU),
			Requested: outcome.Shortage.Requested, Available: outcome.Shortage.Available,
		}, nil
	}
	reserved := event.InventoryReserved{
		OrderID: e.OrderID, CustomerID: e.CustomerID, Items: e.Items,
		TotalCents: e.TotalCents, Currency: e.Currency,
	}
	if err := inbox.Last(ctx, reserved); err != nil {
		return nil, err
	}
	// ApplyReserved brings a pending order to reserved, and leaves one that moved on.
	if _, err := h.orders.Update(ctx, placed.ID, func(o *order.Order) error { return o.ApplyReserved(h.now()) }); err != nil {
		return nil, fmt.Errorf("mark %s reserved: %w", placed.ID, err)
	}
	return reserved, nil
}

// releaseIfEnded gives back the stock held for an order that has ended.
func (h ReserveStock) releaseIfEnded(ctx context.Context, id order.ID) error {
	o, err := h.orders.Get(inbox.Without(ctx), id)
	if errors.Is(err, order.ErrNotFound) {
		return nil // not recorded yet (the store turned the claim away first): not ended
	}
	if err != nil {
		return fmt.Errorf("load order %s: %w", id, err)
	}
	if !o.Status().IsTerminal() {
		return nil
	}
	return h.release(ctx, id)
}

// release gives back the stock held for an ended order.
func (h ReserveStock) release(ctx context.Context, id order.ID) error {
	if err := h.inventory.Release(inbox.Without(ctx), string(id)); err != nil {
		return fmt.Errorf("release stock of ended order %s: %w", id, err)
	}
	return nil
}
