package handlers

import "github.com/orderflow/orderflow/app"

// NewOrderConfirm confirms paid orders.
func NewOrderConfirm(a *app.Application) Handler {
	return NewHandler(On(a.ConfirmOrder.Handle)).WithInbox()
}
