package middleware

// EventNameKey carries the event name, which is also its routing key. Transports set it
// on every message they deliver, so a handler can tell its events apart.
const EventNameKey = "event_name"

// Metadata keys a poisoned message carries besides its own.
const (
	PoisonReasonKey     = "poison_reason"
	PoisonHandlerKey    = "poison_handler"
	PoisonRoutingKeyKey = "poison_routing_key"
	PoisonAttemptsKey   = "poison_attempts"
	PoisonedAtKey       = "poisoned_at"
)

// Metadata keys of a message replayed from the poison queue. The handler that poisoned
// it claims it afresh under its replay id, so the claim that marked it done when it was
// poisoned does not drop it now; every other handler still finds it done.
const (
	ReplayHandlerKey = "replay_handler"
	ReplayIDKey      = "replay_id"
)
