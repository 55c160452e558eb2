package handlers

import "github.com/orderflow/orderflow/app"

// NewOrderCancel cancels orders that are out of stock or whose payment failed.
func NewOrderCancel(a *app.Application) Handler {
	return NewHandler(
		On(a.CancelOrder.OutOfStock),
		On(a.CancelOrder.PaymentDeclined),
	).WithInbox()
}
