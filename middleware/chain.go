package middleware

// Stage names one middleware of a handler's chain. The worker builds each stage from
// configuration, so a chain can be declared as data in the handler table.
type Stage string

// The stages a chain is made of.
const (
	// StageCorrelation sets correlation and causation ids; see Correlation.
	StageCorrelation Stage = "correlation"
	// StagePoison moves failed messages to the poison queue; see Poison.
	StagePoison Stage = "poison"
	// StageRetry retries transient errors in process; see Retry.
	StageRetry Stage = "retry"
	// StageRecoverer turns a panic into a transient error.
	StageRecoverer Stage = "recoverer"
)

// Chain is a handler's middleware, outermost first: the first stage sees the message
// first and the result last.
type Chain []Stage
