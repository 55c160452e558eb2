package handlers

import (
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/middleware"
)

// Definition is one row of the handler table.
type Definition struct {
	// Name is the handler's stable name (see topics.go).
	Name string
	// New builds the handler from the use cases.
	New func(*app.Application) Handler
	// Chain is the handler's middleware, outermost first.
	Chain middleware.Chain
}

// Standard is the chain every handler gets unless its row says otherwise:
//   - Correlation first, so every later stage and every published event has the ids;
//   - Poison outside Retry, so only what Retry gave up on, or a permanent error, is
//     poisoned, and the message is then acked instead of redelivered forever;
//   - Recoverer innermost, so a panic becomes an error that Retry retries.
var Standard = middleware.Chain{
	middleware.StageCorrelation,
	middleware.StagePoison,
	middleware.StageRetry,
	middleware.StageRecoverer,
}

// Table declares every handler and its chain. Adding a handler takes one new file in this
// package and one row here.
func Table() []Definition {
	return []Definition{
		{Name: InventoryReserve, New: NewInventoryReserve, Chain: Standard},
		{Name: PaymentCapture, New: NewPaymentCapture, Chain: Standard},
		{Name: OrderConfirm, New: NewOrderConfirm, Chain: Standard},
		{Name: InventoryRelease, New: NewInventoryRelease, Chain: Standard},
		{Name: OrderCancel, New: NewOrderCancel, Chain: Standard},
		{Name: NotificationSend, New: NewNotificationSend, Chain: Standard},
	}
}
