// Package order holds the order entity and its state machine:
// pending → reserved → paid → confirmed, and any non-terminal state → cancelled.
package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/money"
)

// ErrNotFound is returned for an order the repository does not hold.
var ErrNotFound = errors.New("order not found")

// ID identifies an order.
type ID string

// ParseID returns s as an order ID, or a RuleError.
func ParseID(s string) (ID, error) {
	if err := domain.CheckIdentifier(s); err != nil {
		return "", err
	}
	return ID(s), nil
}

// CustomerID identifies the customer who placed an order.
type CustomerID string

// ParseCustomerID returns s as a customer ID, or a RuleError.
func ParseCustomerID(s string) (CustomerID, error) {
	if err := domain.CheckIdentifier(s); err != nil {
		return "", err
	}
	return CustomerID(s), nil
}

// Status is where an order stands in its life.
type Status struct{ name string }

// The statuses of an order. Confirmed and Cancelled are terminal.
var (
	Pending   = Status{"pending"}
	Reserved  = Status{"reserved"}
	Paid      = Status{"paid"}
	Confirmed = Status{"confirmed"}
	Cancelled = Status{"cancelled"}
)

var statuses = []Status{Pending, Reserved, Paid, Confirmed, Cancelled}

// ParseStatus returns the status named s.
func ParseStatus(s string) (Status, error) {
	for _, st := range statuses {
		if st.name == s {
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("unknown order status %q", s)
}

func (s Status) String() string { return s.name }

// IsTerminal reports whether no transition leaves s.
func (s Status) IsTerminal() bool { return s == Confirmed || s == Cancelled }

// next lists the transitions the state machine allows.
var next = map[Status][]Status{
	Pending:  {Reserved, Cancelled},
	Reserved: {Paid, Cancelled},
	Paid:     {Confirmed, Cancelled},
}

// Reason says why an order was cancelled.
type Reason struct{ name string }

// The reasons an order is cancelled.
var (
	OutOfStock      = Reason{"out_of_stock"}
	PaymentDeclined = Reason{"payment_declined"}
)

// ParseReason returns the reason named s; "" is no reason.
func ParseReason(s string) (Reason, error) {
	switch s {
	case "":
		return Reason{}, nil
	case OutOfStock.name:
		return OutOfStock, nil
	case PaymentDeclined.name:
		return PaymentDeclined, nil
	}
	return Reason{}, fmt.Errorf("unknown cancel reason %q", s)
}

func (r Reason) String() string { return r.name }

// TransitionError is a transition the state machine forbids. It is permanent: the same
// event against the same order fails the same way every time.
type TransitionError struct {
	ID       ID
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("order %s: cannot go from %s to %s", e.ID, e.From, e.To)
}

// Permanent reports true.
func (e *TransitionError) Permanent() bool { return true }

// Order is one customer order. Its fields change only through the transition methods.
type Order struct {
	id         ID
	customerID CustomerID
	total      money.Cents
	currency   money.Currency
	status     Status
	reason     Reason
	// paymentID is the provider's reference of the capture that paid the order.
	paymentID string
	placedAt  time.Time
	updatedAt time.Time
}

// New records the placed order p as pending at now. Its id, customer and currency are
// required; its placed time may be zero (unknown).
func New(p Placed, now time.Time) (*Order, error) {
	if p.ID == "" || p.CustomerID == "" || p.Currency.IsZero() {
		return nil, errors.New("new order: id, customer and currency are required")
	}
	return &Order{
		id: p.ID, customerID: p.CustomerID, total: p.Total, currency: p.Currency,
		status: Pending, placedAt: p.PlacedAt.UTC(), updatedAt: now.UTC(),
	}, nil
}

func (o *Order) ID() ID                   { return o.id }
func (o *Order) CustomerID() CustomerID   { return o.customerID }
func (o *Order) Total() money.Cents       { return o.total }
func (o *Order) Currency() money.Currency { return o.currency }
func (o *Order) Status() Status           { return o.status }
func (o *Order) Reason() Reason           { return o.reason }
func (o *Order) UpdatedAt() time.Time     { return o.updatedAt }

// PlacedAt is when the customer placed the order (the event's placed_at); zero for an
// order stored before it was kept.
func (o *Order) PlacedAt() time.Time { return o.placedAt }

// MarkReserved records that all items were reserved.
func (o *Order) MarkReserved(now time.Time) error { return o.transition(Reserved, now) }

// MarkPaid records that the payment was captured.
func (o *Order) MarkPaid(now time.Time) error { return o.transition(Paid, now) }

// ApplyReserved is MarkReserved for an event that may be handled again after the order
// moved on: an order that is reserved already, further on the happy path, or cancelled
// since (a declined payment) stays as it is.
func (o *Order) ApplyReserved(now time.Time) error {
	if o.HasPassed(Reserved) || o.status == Cancelled {
		return nil
	}
	return o.MarkReserved(now)
}

// ApplyPaid is MarkPaid for an event that may be handled again after the order moved
// on: an order that is paid or confirmed stays as it is. A cancelled order is still an
// error, since paying it would break "no capture for a cancelled order".
//
// The order keeps paymentID, the provider's reference of the capture, as the record that
// it was charged: a replay finds it there.
func (o *Order) ApplyPaid(paymentID string, now time.Time) error {
	if o.HasPassed(Paid) {
		return nil
	}
	if err := o.MarkPaid(now); err != nil {
		return err
	}
	o.paymentID = paymentID
	return nil
}

// PaymentID is the provider's reference of the capture that paid the order ("" when
// none is kept: unpaid, or paid before orders kept it).
func (o *Order) PaymentID() string { return o.paymentID }

// Confirm ends the order as paid and reserved.
func (o *Order) Confirm(now time.Time) error { return o.transition(Confirmed, now) }

// Cancel ends the order with reason. Cancelling a cancelled order keeps its first reason.
func (o *Order) Cancel(reason Reason, now time.Time) error {
	if reason == (Reason{}) {
		return errors.New("cancel: a reason is required")
	}
	if o.status == Cancelled {
		return nil
	}
	if err := o.transition(Cancelled, now); err != nil {
		return err
	}
	o.reason = reason
	return nil
}

// transition moves the order to status to. A repeated transition is a no-op, so that an
// event handled twice has one effect.
func (o *Order) transition(to Status, now time.Time) error {
	if o.status == to {
		return nil
	}
	for _, allowed := range next[o.status] {
		if allowed == to {
			o.status = to
			o.updatedAt = now.UTC()
			return nil
		}
	}
	return &TransitionError{ID: o.id, From: o.status, To: to}
}

// HasPassed reports whether the order is at status s or has moved beyond it on the happy
// path (pending → reserved → paid → confirmed). A cancelled order has passed only
// cancelled.
func (o *Order) HasPassed(s Status) bool {
	if o.status == Cancelled || s == Cancelled {
		return o.status == s
	}
	return happyPathRank[o.status] >= happyPathRank[s]
}

// happyPathRank orders the statuses an order passes through when nothing goes wrong.
var happyPathRank = map[Status]int{Pending: 0, Reserved: 1, Paid: 2, Confirmed: 3}

// Snapshot is an order's state as stores keep it.
type Snapshot struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	PaymentID  string    `json:"payment_id,omitempty"`
	PlacedAt   time.Time `json:"placed_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Snapshot returns the order's state for storage.
func (o *Order) Snapshot() Snapshot {
	return Snapshot{
		ID: string(o.id), CustomerID: string(o.customerID), TotalCents: int64(o.total),
		Currency: o.currency.String(), Status: o.status.String(), Reason: o.reason.String(),
		PaymentID: o.paymentID, PlacedAt: o.placedAt, UpdatedAt: o.updatedAt,
	}
}

// FromSnapshot rebuilds an order that a store kept.
func FromSnapshot(s Snapshot) (*Order, error) {
	id, err := ParseID(s.ID)
	if err != nil {
		return nil, fmt.Errorf("order snapshot id: %w", err)
	}
	customer, err := ParseCustomerID(s.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("order snapshot %s customer_id: %w", s.ID, err)
	}
	currency, err := money.ParseCurrency(s.Currency)
	if err != nil {
		return nil, fmt.Errorf("order snapshot %s currency: %w", s.ID, err)
	}
	status, err := ParseStatus(s.Status)
	if err != nil {
		return nil, fmt.Errorf("order snapshot %s: %w", s.ID, err)
	}
	reason, err := ParseReason(s.Reason)
	if err != nil {
		return nil, fmt.Errorf("order snapshot %s: %w", s.ID, err)
	}
	return &Order{
		id: id, customerID: customer, total: money.Cents(s.TotalCents), currency: currency,
		status: status, reason: reason, paymentID: s.PaymentID, placedAt: s.PlacedAt, updatedAt: s.UpdatedAt,
	}, nil
}

// Repository keeps orders. Implementations are safe for concurrent use.
type Repository interface {
	// Add stores o unless an order with its ID exists, and returns the stored order.
	Add(ctx context.Context, o *Order) (*Order, error)
	// Get returns the order, or ErrNotFound.
	Get(ctx context.Context, id ID) (*Order, error)
	// Update applies change to the stored order atomically and returns the result, or
	// ErrNotFound. When change fails, nothing is stored.
	Update(ctx context.Context, id ID, change func(*Order) error) (*Order, error)
}

// Line is one SKU of an order at its unit price.
type Line struct {
	SKU       inventory.SKU
	Quantity  inventory.Quantity
	UnitPrice money.Cents
}

// Placed is a validated order.placed event: the only way into the pipeline.
type Placed struct {
	ID         ID
	CustomerID CustomerID
	Lines      []Line
	Total      money.Cents
	Currency   money.Currency
	// PlacedAt is when the customer placed it, by the producer's clock.
	PlacedAt time.Time
}

// Items returns what to reserve for the order.
func (p Placed) Items() []inventory.Item {
	items := make([]inventory.Item, len(p.Lines))
	for i, l := range p.Lines {
		items[i] = inventory.Item{SKU: l.SKU, Quantity: l.Quantity}
	}
	return items
}

// MaxLines is the most lines one order may have.
const MaxLines = 100

// SumLines returns the sum of quantity × unit price, or a RuleError on overflow.
func SumLines(lines []Line) (money.Cents, error) {
	var total int64
	for _, l := range lines {
		line := int64(l.Quantity) * int64(l.UnitPrice)
		if int64(l.UnitPrice) != 0 && line/int64(l.UnitPrice) != int64(l.Quantity) || total+line < total {
			return 0, domain.Rulef("total_cents overflows")
		}
		total += line
	}
	return money.Cents(total), nil
}
