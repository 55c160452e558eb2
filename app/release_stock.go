package app

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
)

// ReleaseStock gives the reservation of an order whose payment failed back to stock.
type ReleaseStock struct {
	inventory inventory.Repository
}

// Handle returns inventory.released. Releasing twice is a no-op.
func (h ReleaseStock) Handle(ctx context.Context, e event.PaymentFailed) (event.Event, error) {
	if err := h.inventory.Release(ctx, e.OrderID); err != nil {
		return nil, fmt.Errorf("release stock of %s: %w", e.OrderID, err)
	}
	return event.InventoryReleased{OrderID: e.OrderID}, nil
}
