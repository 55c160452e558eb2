// Package handlers is the Watermill edge of the pipeline: typed handlers that decode an
// event, call one use case of package app and publish what it returns. No business rule
// lives here.
package handlers

// The handlers' stable names. A name also names the handler's queue, its metrics, logs
// and poison metadata, so renaming one moves it to a new, empty queue.
const (
	InventoryReserve = "inventory-reserve"
	PaymentCapture   = "payment-capture"
	OrderConfirm     = "order-confirm"
	InventoryRelease = "inventory-release"
	OrderCancel      = "order-cancel"
	NotificationSend = "notification-send"
)
