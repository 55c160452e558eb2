package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/app/inbox"
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
// calling the provider again once the order moved on, and the provider is asked with the
// order id as idempotency key, so a crash between charge and record cannot charge twice.
func (h CapturePayment) Handle(ctx context.Context, e event.InventoryReserved) (event.Event, error) {
	amount, err := money.NewCents(e.TotalCents)
	if err != nil {
		return nil, domain.InField("total_cents", err)
	}
	currency, err := money.ParseCurrency(e.Currency)
	if err != nil {
		return nil, domain.InField("currency", err)
	}
	captured := func(outcome payment.Outcome) event.Event {
		return event.PaymentCaptured{
			OrderID: e.OrderID, CustomerID: e.CustomerID, PaymentID: outcome.PaymentID,
			AmountCents: e.TotalCents, Currency: e.Currency,
		}
	}
	failed := func(outcome payment.Outcome) event.Event {
		return event.PaymentFailed{OrderID: e.OrderID, CustomerID: e.CustomerID, Reason: outcome.FailureReason}
	}
	outcome, err := h.capture(ctx, e.OrderID, amount, currency, failed)
	if err != nil {
		return nil, err
	}
	if !outcome.Captured {
		return failed(outcome), nil
	}
	// Marking the order paid, with its payment, is the message's last write (app/inbox).
	if err := inbox.Last(ctx, captured(outcome)); err != nil {
		return nil, err
	}
	_, err = h.orders.Update(ctx, order.ID(e.OrderID), func(o *order.Order) error { return o.ApplyPaid(outcome.PaymentID, h.now()) })
	if err != nil {
		return nil, fmt.Errorf("mark %s paid: %w", e.OrderID, err)
	}
	return captured(outcome), nil
}

// capture returns the outcome of the order's payment: the one kept, or a new charge's.
// The order is read first (and with it the message's dedup claim, app/inbox); only an
// order that moved on past reserved has one kept, since a reserved one is charged with
// its id as idempotency key. A capture is kept by the paid order itself, so that paying
// is one write; a decline, which leaves the order reserved, in the payments.
func (h CapturePayment) capture(ctx context.Context, orderID string, amount money.Cents, currency money.Currency, failed func(payment.Outcome) event.Event) (payment.Outcome, error) {
	o, err := h.orders.Get(ctx, order.ID(orderID))
	if errors.Is(err, order.ErrNotFound) {
		return payment.Outcome{}, domain.Permanent(fmt.Errorf("capture %s: %w", orderID, err))
	}
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("load order %s: %w", orderID, err)
	}
	if id := o.PaymentID(); id != "" {
		return payment.Outcome{Captured: true, PaymentID: id}, nil
	}
	if o.Status() != order.Reserved {
		// A decline, or a capture recorded before orders kept their payment.
		stored, ok, err := h.payments.Get(ctx, orderID)
		if err != nil {
			return payment.Outcome{}, fmt.Errorf("load payment of %s: %w", orderID, err)
		}
		if ok {
			// A replay: the order may have moved on (a declined one may be cancelled by
			// now), but the outcome, and so the event, is the one recorded.
			return stored, nil
		}
	}
	if o.Status() == order.Cancelled {
		// Charging a cancelled order would break "no capture for a cancelled order".
		return payment.Outcome{}, &order.TransitionError{ID: o.ID(), From: o.Status(), To: order.Paid}
	}
	receipt, err := h.provider.Charge(ctx, orderID, amount, currency)
	var declined *payment.DeclinedError
	switch {
	case errors.As(err, &declined):
	case err != nil:
		return payment.Outcome{}, fmt.Errorf("charge %s: %w", orderID, err)
	default:
		return payment.Outcome{Captured: true, PaymentID: receipt.PaymentID}, nil
	}
	outcome := payment.Outcome{FailureReason: declined.Reason}
	// A decline ends the message with its record (app/inbox).
	if err := inbox.Last(ctx, failed(outcome)); err != nil {
		return payment.Outcome{}, err
	}
	stored, err := h.payments.Record(ctx, orderID, outcome)
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("record payment of %s: %w", orderID, err)
	}
	return stored, nil
}
