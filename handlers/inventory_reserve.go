package handlers

import "github.com/orderflow/orderflow/app"

// NewInventoryReserve records a placed order and reserves its stock.
func NewInventoryReserve(a *app.Application) Handler {
	return NewHandler(On(a.ReserveStock.Handle)).WithInbox()
}
