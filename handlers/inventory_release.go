package handlers

import "github.com/orderflow/orderflow/app"

// NewInventoryRelease gives back the stock of orders whose payment failed.
func NewInventoryRelease(a *app.Application) Handler {
	return NewHandler(On(a.ReleaseStock.Handle)).WithInbox()
}
