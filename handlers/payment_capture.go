package handlers

import "github.com/orderflow/orderflow/app"

// NewPaymentCapture charges orders whose stock is reserved.
func NewPaymentCapture(a *app.Application) Handler {
	return NewHandler(On(a.CapturePayment.Handle)).WithInbox()
}
