package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/order"
	"github.com/orderflow/orderflow/domain/payment"
)

// CapturePayment charges a reserved order, once.
type CapturePayment struct {
	orders   order.Repository
	payments payment.Repository
	provider payment.Provider
	now      Clock
}

// Handle returns payment.captured or payment.failed. A stored outcome is returned without
// calling the provider again, and the provider is asked with the order id as idempotency
// key, so a crash between charge and record cannot charge twice.
func (h CapturePayment) Handle(ctx context.Context, e event.InventoryReserved) (event.Event, error) {
	amount, err := money.NewCents(e.TotalCents)
	if err != nil {
		return nil, domain.InField("total_cents", err)
	}
	currency, err := money.ParseCurrency(e.Currency)
	if err != nil {
		return nil, domain.InField("currency", err)
	}
	outcome, err := h.capture(ctx, e.OrderID, amount, currency)
	if err != nil {
		return nil, err
	}
	if !outcome.Captured {
		return event.PaymentFailed{OrderID: e.OrderID, CustomerID: e.CustomerID, Reason: outcome.FailureReason}, nil
	}
	_, err = h.orders.Update(ctx, order.ID(e.OrderID), func(o *order.Order) error { return o.ApplyPaid(h.now()) })
	if err != nil {
		return nil, fmt.Errorf("mark %s paid: %w", e.OrderID, err)
	}
	return event.PaymentCaptured{
		OrderID: e.OrderID, CustomerID: e.CustomerID, PaymentID: outcome.PaymentID,
		AmountCents: e.TotalCents, Currency: e.Currency,
	}, nil
}

func (h CapturePayment) capture(ctx context.Context, orderID string, amount money.Cents, currency money.Currency) (payment.Outcome, error) {
	stored, ok, err := h.payments.Get(ctx, orderID)
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("load payment of %s: %w", orderID, err)
	}
	if ok {
		// A replay: the order may have moved on (a declined one may be cancelled by
		// now), but the outcome, and so the event, is the one recorded.
		return stored, nil
	}
	o, err := h.orders.Get(ctx, order.ID(orderID))
	if errors.Is(err, order.ErrNotFound) {
		return payment.Outcome{}, domain.Permanent(fmt.Errorf("capture %s: %w", orderID, err))
	}
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("load order %s: %w", orderID, err)
	}
	if o.Status() == order.Cancelled {
		// Charging a cancelled order would break "no capture for a cancelled order".
		return payment.Outcome{}, &order.TransitionError{ID: o.ID(), From: o.Status(), To: order.Paid}
	}
	var outcome payment.Outcome
	receipt, err := h.provider.Charge(ctx, orderID, amount, currency)
	var declined *payment.DeclinedError
	switch {
	case errors.As(err, &declined):
		outcome = payment.Outcome{FailureReason: declined.Reason}
	case err != nil:
		return payment.Outcome{}, fmt.Errorf("charge %s: %w", orderID, err)
	default:
		outcome = payment.Outcome{Captured: true, PaymentID: receipt.PaymentID}
	}
	stored, err = h.payments.Record(ctx, orderID, outcome)
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("record payment of %s: %w", orderID, err)
	}
	return stored, nil
}
