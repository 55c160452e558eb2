package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/order"
)

// IdempotencyTTL is how long the answer to an Idempotency-Key is kept.
const IdempotencyTTL = 24 * time.Hour

// PlaceOrderCommand is an order as a customer sends it; the service picks the id, the
// total and the time.
type PlaceOrderCommand struct {
	IdempotencyKey string
	CustomerID     string
	Items          []event.Item
	Currency       string
}

// PlaceOrderResult is the answer to a placed order.
type PlaceOrderResult struct {
	OrderID string
	// Replayed is true when the idempotency key was seen before and no event was sent.
	Replayed bool
}

// PlaceOrder validates an order and publishes order.placed.
type PlaceOrder struct {
	publisher EventPublisher
	keys      IdempotencyKeys
	now       Clock
}

// Handle returns a *domain.RuleError when the order breaks a rule of the entry event.
func (h PlaceOrder) Handle(ctx context.Context, cmd PlaceOrderCommand) (PlaceOrderResult, error) {
	lines, err := event.ParseItems(cmd.Items)
	if err != nil {
		return PlaceOrderResult{}, err
	}
	total, err := order.SumLines(lines)
	if err != nil {
		return PlaceOrderResult{}, err
	}
	placed := event.OrderPlaced{
		OrderID:    "ord-" + uuid.NewString(),
		CustomerID: cmd.CustomerID,
		Items:      cmd.Items,
		TotalCents: int64(total),
		Currency:   cmd.Currency,
		PlacedAt:   h.now().UTC().Format(time.RFC3339),
	}
	if _, err := placed.Validate(); err != nil {
		return PlaceOrderResult{}, err
	}

	if cmd.IdempotencyKey != "" {
		answer, _ := json.Marshal(placed.OrderID)
		held, claimed, err := h.keys.Claim(ctx, cmd.IdempotencyKey, string(answer), IdempotencyTTL)
		if err != nil {
			return PlaceOrderResult{}, fmt.Errorf("claim idempotency key: %w", err)
		}
		if !claimed {
			var orderID string
			if err := json.Unmarshal([]byte(held), &orderID); err != nil {
				return PlaceOrderResult{}, fmt.Errorf("read idempotency key: %w", err)
			}
			return PlaceOrderResult{OrderID: orderID, Replayed: true}, nil
		}
	}

	if err := h.publisher.Publish(ctx, placed); err != nil {
		if cmd.IdempotencyKey != "" {
			// The key must not promise an order that was never sent.
			if ferr := h.keys.Forget(ctx, cmd.IdempotencyKey); ferr != nil {
				err = fmt.Errorf("%w (and forget idempotency key: %v)", err, ferr)
			}
		}
		return PlaceOrderResult{}, fmt.Errorf("publish %s: %w", placed.OrderID, err)
	}
	return PlaceOrderResult{OrderID: placed.OrderID}, nil
}
