// Package inventory holds stock per SKU and the reservations orders make against it.
// A reservation takes every item of an order or none, and is made at most once per order.
package inventory

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/domain"
)

// ErrUnknownSKU is returned for a SKU that the store has never held.
var ErrUnknownSKU = errors.New("unknown sku")

// SKU identifies a stock-keeping unit.
type SKU string

// ParseSKU returns s as a SKU, or a RuleError naming the broken rule.
func ParseSKU(s string) (SKU, error) {
	if err := domain.CheckIdentifier(s); err != nil {
		return "", err
	}
	return SKU(s), nil
}

// MaxStock is the most units a SKU may have available: far below where a count could
// overflow, whatever is reserved on top.
const MaxStock = 1_000_000_000

// CheckStock returns a RuleError unless available is 0..MaxStock.
func CheckStock(available int64) error {
	if available < 0 || available > MaxStock {
		return domain.Rulef("available must be an integer 0..%d, got %d", MaxStock, available)
	}
	return nil
}

// MaxQuantity is the largest quantity of one SKU in one order.
const MaxQuantity = 1000

// Quantity is how many units of one SKU an order line asks for: 1..MaxQuantity.
type Quantity int64

// NewQuantity returns q, or a RuleError when it is out of range.
func NewQuantity(q int64) (Quantity, error) {
	if q < 1 || q > MaxQuantity {
		return 0, domain.Rulef("must be 1..%d", MaxQuantity)
	}
	return Quantity(q), nil
}

// Item is one SKU and the quantity of it to reserve.
type Item struct {
	SKU      SKU
	Quantity Quantity
}

// Stock is what a SKU has: Available can still be reserved; Reserved is held by orders
// that are not terminal yet.
type Stock struct {
	SKU       SKU
	Available int64
	Reserved  int64
}

// Shortage names the first SKU that could not be reserved.
type Shortage struct {
	SKU       SKU
	Requested int64
	Available int64
}

func (s Shortage) String() string {
	return fmt.Sprintf("%s: requested %d, available %d", s.SKU, s.Requested, s.Available)
}

// Outcome is the result of reserving an order's items. It is recorded per order, so a
// repeated reservation returns the first outcome.
type Outcome struct {
	Reserved bool
	// Shortage is set when Reserved is false.
	Shortage Shortage
}

// Repository keeps stock and reservations. Implementations are safe for concurrent use
// and make every method idempotent per order.
type Repository interface {
	// Seed sets the stock of each SKU that the store does not hold yet, so a restart
	// never resets stock.
	Seed(ctx context.Context, stock map[SKU]int64) error
	// Reserve takes every item for orderID, or none when any is short. A second call
	// for the same order returns the first outcome and changes nothing.
	Reserve(ctx context.Context, orderID string, items []Item) (Outcome, error)
	// Commit turns the order's reservation into a sale: reserved goes down, available
	// stays. Committing twice, or an order with nothing reserved, is a no-op.
	Commit(ctx context.Context, orderID string) error
	// Release gives the order's reservation back to available. Releasing twice, or an
	// order with nothing reserved, is a no-op.
	Release(ctx context.Context, orderID string) error
	// Stock returns the stock of sku, or ErrUnknownSKU.
	Stock(ctx context.Context, sku SKU) (Stock, error)
	// SetAvailable sets the available stock of sku, creating it when unknown.
	SetAvailable(ctx context.Context, sku SKU, available int64) error
}
