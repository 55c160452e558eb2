// Package payment charges orders through a provider, at most once per order.
package payment

import (
	"context"
	"errors"

	"github.com/orderflow/orderflow/domain/money"
)

// ErrProviderUnavailable is a provider failure worth retrying: a time-out, an outage.
var ErrProviderUnavailable = errors.New("payment provider unavailable")

// DeclinedError is a charge the provider refused for good. It is a business outcome
// (payment.failed), not a failure of the pipeline.
type DeclinedError struct {
	Reason string
}

func (e *DeclinedError) Error() string { return "payment declined: " + e.Reason }

// ReasonDeclined is why a declined charge failed.
const ReasonDeclined = "declined"

// Receipt proves a capture.
type Receipt struct {
	PaymentID string
}

// Provider charges money. A charge repeated with the same idempotency key has the effect
// of one, as real payment providers promise.
type Provider interface {
	// Charge captures amount. It returns *DeclinedError when refused for good, and any
	// other error when the outcome is unknown and the charge may be retried.
	Charge(ctx context.Context, idempotencyKey string, amount money.Cents, currency money.Currency) (Receipt, error)
}

// Outcome is what happened to an order's payment.
type Outcome struct {
	Captured      bool   `json:"captured"`
	PaymentID     string `json:"payment_id,omitempty"`
	FailureReason string `json:"failure_reason,omitempty"`
}

// Repository records one payment outcome per order.
type Repository interface {
	// Record stores outcome for orderID unless one is stored, and returns the stored one.
	Record(ctx context.Context, orderID string, outcome Outcome) (Outcome, error)
	// Get returns the stored outcome and whether there is one.
	Get(ctx context.Context, orderID string) (Outcome, bool, error)
}
