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
// ended, it does nothing and returns none, however long ago that was (the reservation's
// record and the dedup marks expire, the order does not).
//
// The order is read first and written once, after the reservation: reserved, or pending
// when the reservation was rejected (order-cancel then cancels it). That write is the
// message's last (app/inbox), so it carries the dedup mark; a crash before it leaves no
// order, and the redelivery reserves again, which the reservation's record makes a no-op.
func (h ReserveStock) Handle(ctx context.Context, e event.OrderPlaced) (event.Event, error) {
	placed, err := e.Validate()
	if err != nil {
		return nil, err
	}
	o, err := order.New(placed, h.now())
	if err != nil {
		return nil, err
	}
	stored, err := h.orders.Get(ctx, placed.ID)
	switch {
	case errors.Is(err, order.ErrNotFound):
		stored = nil
	case err != nil:
		return nil, fmt.Errorf("load order %s: %w", placed.ID, err)
	case stored.Status().IsTerminal():
		return nil, nil
	}
	outcome, err := h.inventory.Reserve(ctx, string(placed.ID), placed.Items())
	if err != nil {
		return nil, fmt.Errorf("reserve %s: %w", placed.ID, err)
	}
	var next event.Event = event.InventoryReserved{
		OrderID: e.OrderID, CustomerID: e.CustomerID, Items: e.Items,
		TotalCents: e.TotalCents, Currency: e.Currency,
	}
	if !outcome.Reserved {
		next = event.InventoryRejected{
			OrderID: e.OrderID, CustomerID: e.CustomerID, SKU: string(outcome.Shortage.SKU),
			Requested: outcome.Shortage.Requested, Available: outcome.Shortage.Available,
		}
	}
	if err := inbox.Last(ctx, next); err != nil {
		return nil, err
	}
	if stored == nil {
		if outcome.Reserved {
			if err := o.ApplyReserved(h.now()); err != nil {
				return nil, fmt.Errorf("mark %s reserved: %w", placed.ID, err)
			}
		}
		if stored, err = h.orders.Add(ctx, o); err != nil {
			return nil, fmt.Errorf("record order %s: %w", placed.ID, err)
		}
	}
	if outcome.Reserved && stored.Status() != order.Reserved {
		// Found pending (recorded by an attempt from before the reservation was one
		// write), or moved on: ApplyReserved brings it to reserved or leaves it.
		if _, err := h.orders.Update(ctx, placed.ID, func(o *order.Order) error { return o.ApplyReserved(h.now()) }); err != nil {
			return nil, fmt.Errorf("mark %s reserved: %w", placed.ID, err)
		}
	}
	return next, nil
}
