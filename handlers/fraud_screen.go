package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/event"
)

// FraudScreen flags suspicious orders. It observes only: the saga goes on whatever it
// decides, and a flag is an event for whoever reviews orders (fraud.flagged).
const FraudScreen = "fraud-screen"

// FraudFlaggedName is the event fraud-screen publishes.
const FraudFlaggedName = "fraud.flagged"

// FraudFlagged says that an order looks suspicious, and why.
type FraudFlagged struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	// Reason is "total_above_limit" or "too_many_orders".
	Reason string `json:"reason"`
}

// EventName implements event.Event.
func (FraudFlagged) EventName() string { return FraudFlaggedName }

// The reasons of fraud.flagged.
const (
	ReasonTotalAboveLimit = "total_above_limit"
	ReasonTooManyOrders   = "too_many_orders"
)

// FraudScreenSettings are fraud-screen's settings (handlers.fraud-screen.settings).
type FraudScreenSettings struct {
	// FlagAboveCents flags an order whose total is above it. Default 500000.
	FlagAboveCents int64 `yaml:"flag_above_cents"`
	// MaxOrders flags a customer's order beyond this many within Window. Default 5.
	MaxOrders int64 `yaml:"max_orders"`
	// Window is how far back a customer's orders count. Default 10m.
	Window time.Duration `yaml:"window"`
}

// Validate implements Validator.
func (s *FraudScreenSettings) Validate() error {
	var errs []error
	if s.FlagAboveCents < 0 {
		errs = append(errs, fmt.Errorf("flag_above_cents: must be >= 0, got %d", s.FlagAboveCents))
	}
	if s.MaxOrders < 1 {
		errs = append(errs, fmt.Errorf("max_orders: must be >= 1, got %d", s.MaxOrders))
	}
	if s.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be a positive duration such as 10m, got %s", s.Window))
	}
	return errors.Join(errs...)
}

// decisionTTL is how long an order's decision is kept, so that a redelivery long after
// dedup forgot the message still publishes what the first delivery did.
const decisionTTL = 7 * 24 * time.Hour

// NewFraudScreen screens placed orders: it counts each customer's orders in its own
// state, once per order however often one is delivered, and freezes its decision per
// order, so a redelivery publishes the same event or none. Both keys have the customer's
// hash tag, so on Redis the dedup claim goes in the count's script and the mark in the
// decision's (Handler.WithInbox): two round trips per order.
var NewFraudScreen = WithSettings(
	FraudScreenSettings{FlagAboveCents: 500000, MaxOrders: 5, Window: 10 * time.Minute},
	func(d Deps, s FraudScreenSettings) (Handler, error) {
		return NewHandler(On(func(ctx context.Context, e event.OrderPlaced) (event.Event, error) {
			placed, err := e.Validate()
			if err != nil {
				return nil, err
			}
			customer := "{customer:" + e.CustomerID + "}"
			recent, err := d.State.AddOnce(ctx, customer, e.OrderID, d.Clock(), s.Window)
			if err != nil {
				return nil, fmt.Errorf("count orders of %s: %w", e.CustomerID, err)
			}
			reason := ""
			switch {
			case int64(placed.Total) > s.FlagAboveCents:
				reason = ReasonTotalAboveLimit
			case recent > s.MaxOrders:
				reason = ReasonTooManyOrders
			}
			var flagged event.Event
			if reason != "" {
				flagged = FraudFlagged{OrderID: e.OrderID, CustomerID: e.CustomerID, Reason: reason}
			}
			// The decision is the message's last write; it keeps the mark only when it
			// is this decision, not one found from before.
			if err := inbox.Last(ctx, flagged); err != nil {
				return nil, err
			}
			decided, _, err := d.State.PutOnce(ctx, customer+"decision:"+e.OrderID, []byte(reason), decisionTTL)
			if err != nil {
				return nil, fmt.Errorf("record decision on %s: %w", e.OrderID, err)
			}
			if len(decided) == 0 {
				return nil, nil
			}
			return FraudFlagged{OrderID: e.OrderID, CustomerID: e.CustomerID, Reason: string(decided)}, nil
		})).WithInbox(), nil
	})
