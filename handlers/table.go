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

// Standard is the chain every handler gets unless its row says otherwise, outermost
// first:
//   - Correlation, so every later stage, log line and published event has the ids;
//   - Logging, so every line from here in names handler, message, correlation and
//     causation;
//   - Metrics, counting each message once whatever happens inside;
//   - Throttle before anything that costs: a message waits for a token first;
//   - Poison outside Retry, so only a permanent error or what Retry gave up on is
//     poisoned, and is then acked instead of redelivered for ever;
//   - Redeliver between them: on RabbitMQ, what Retry gave up on waits in a retry queue
//     (1s, 10s, 60s) and comes back, before Poison gets it;
//   - Retry outside Dedup (the order Watermill's examples suggest is the other way
//     round): a duplicate that meets its original in flight gets an in-process backoff
//     instead of a nack that the broker redelivers at once, and a failed attempt's claim
//     is released before the next attempt claims again;
//   - Timeout inside Dedup, so a claim is always committed or released, and per attempt;
//   - Recoverer innermost, so a panic becomes an error that Retry retries.
var Standard = middleware.Chain{
	middleware.StageCorrelation,
	middleware.StageLogging,
	middleware.StageMetrics,
	middleware.StageThrottle,
	middleware.StagePoison,
	middleware.StageRedeliver,
	middleware.StageRetry,
	middleware.StageDedup,
	middleware.StageTimeout,
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
