package app

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/notification"
	"github.com/orderflow/orderflow/domain/order"
)

// Notify tells the customer how the order ended, once per order.
type Notify struct {
	notifications notification.Repository
	now           Clock
}

// Confirmed records the notification of a confirmed order.
func (h Notify) Confirmed(ctx context.Context, e event.OrderConfirmed) (event.Event, error) {
	return h.send(ctx, notification.Notification{
		OrderID: e.OrderID, CustomerID: e.CustomerID, Status: order.Confirmed.String(),
		Message: fmt.Sprintf("Your order %s is confirmed.", e.OrderID),
	})
}

// Cancelled records the notification of a cancelled order.
func (h Notify) Cancelled(ctx context.Context, e event.OrderCancelled) (event.Event, error) {
	return h.send(ctx, notification.Notification{
		OrderID: e.OrderID, CustomerID: e.CustomerID, Status: order.Cancelled.String(),
		Message: fmt.Sprintf("Your order %s was cancelled: %s.", e.OrderID, e.Reason),
	})
}

// send returns notification.sent; a second call for the same order records nothing new.
func (h Notify) send(ctx context.Context, n notification.Notification) (event.Event, error) {
	n.SentAt = h.now().UTC()
	// The record is the message's first and last write: on Redis, claim, record and mark
	// are one script (app/inbox). A record found holds the same order, customer and status.
	if err := inbox.Last(ctx, event.NotificationSent{OrderID: n.OrderID, CustomerID: n.CustomerID, Status: n.Status}); err != nil {
		return nil, err
	}
	stored, err := h.notifications.Record(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("record notification of %s: %w", n.OrderID, err)
	}
	return event.NotificationSent{OrderID: stored.OrderID, CustomerID: stored.CustomerID, Status: stored.Status}, nil
}
