package app

import (
	"context"
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
// The order is recorded as pending on arrival, with the message's claim (app/inbox),
// then reserved; a reserved order is written once more, and that write is the message's
// last, so it carries the dedup mark. A crash in between leaves the order pending, and
// the redelivery reserves again, which the reservation's record makes a no-op.
func (h ReserveStock) Handle(ctx context.Context, e event.OrderPlaced) (event.Event, error) {
	placed, err := e.Validate()
	if err != nil {
		return nil, err
	}
	o, err := order.New(placed, h.now())
	if err != nil {
		return nil, err
	}
	stored, err := h.orders.Add(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("record order %s: %w", placed.ID, err)
	}
	if stored.Status().IsTerminal() {
		return nil, nil
	}
	outcome, err := h.inventory.Reserve(ctx, string(placed.ID), placed.Items())
	if err != nil {
		return nil, fmt.Errorf("reserve %s: %w", placed.ID, err)
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
