package handlers

import "github.com/orderflow/orderflow/app"

// NewNotificationSend tells customers how their orders ended.
func NewNotificationSend(a *app.Application) Handler {
	return NewHandler(
		On(a.Notify.Confirmed),
		On(a.Notify.Cancelled),
	).WithInbox()
}
