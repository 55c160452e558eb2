// Package notification records what customers were told about their orders.
package notification

import (
	"context"
	"time"
)

// Notification is one message to a customer about one order.
type Notification struct {
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Status     string    `json:"status"`
	Message    string    `json:"message"`
	SentAt     time.Time `json:"sent_at"`
}

// Repository keeps notifications, at most one per order.
type Repository interface {
	// Record stores n unless one for its order exists, and returns the stored one.
	Record(ctx context.Context, n Notification) (Notification, error)
	// ForCustomer returns the customer's notifications, oldest first.
	ForCustomer(ctx context.Context, customerID string) ([]Notification, error)
}
