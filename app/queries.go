package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/notification"
	"github.com/orderflow/orderflow/domain/order"
)

// Queries read the stores for the HTTP API.
type Queries struct {
	stores Stores
}

// Order returns the order, or order.ErrNotFound.
func (q Queries) Order(ctx context.Context, id order.ID) (*order.Order, error) {
	return q.stores.Orders.Get(ctx, id)
}

// Stock returns the stock of sku, or inventory.ErrUnknownSKU.
func (q Queries) Stock(ctx context.Context, sku inventory.SKU) (inventory.Stock, error) {
	return q.stores.Inventory.Stock(ctx, sku)
}

// SetStock sets the available stock of sku and returns the stock as it was (zero for a
// SKU not held before); a count outside 0..inventory.MaxStock is a *domain.RuleError and
// changes nothing.
func (q Queries) SetStock(ctx context.Context, sku inventory.SKU, available int64) (inventory.Stock, error) {
	if err := inventory.CheckStock(available); err != nil {
		return inventory.Stock{}, err
	}
	before, err := q.stores.Inventory.Stock(ctx, sku)
	if err != nil && !errors.Is(err, inventory.ErrUnknownSKU) {
		return inventory.Stock{}, fmt.Errorf("stock of %s: %w", sku, err)
	}
	if err := q.stores.Inventory.SetAvailable(ctx, sku, available); err != nil {
		return inventory.Stock{}, err
	}
	return before, nil
}

// Notifications returns what the customer was told, oldest first.
func (q Queries) Notifications(ctx context.Context, customerID string) ([]notification.Notification, error) {
	return q.stores.Notifications.ForCustomer(ctx, customerID)
}
