package middleware

// Stage names one middleware of a handler's chain. The worker builds each stage from
// configuration, so a chain can be declared as data in the handler table.
type Stage string

// The stages a chain is made of.
const (
	// StageCorrelation sets correlation and causation ids; see Correlation.
	StageCorrelation Stage = "correlation"
	// StageLogging logs with the message's ids on every line; see Logging.
	StageLogging Stage = "logging"
	// StageMetrics counts outcomes per handler; see Metrics.
	StageMetrics Stage = "metrics"
	// StageThrottle limits the handler's rate; see Throttle.
	StageThrottle Stage = "throttle"
	// StagePoison moves failed messages to the poison queue; see Poison.
	StagePoison Stage = "poison"
	// StageRedeliver parks what retry gave up on for a delayed redelivery, where the
	// broker can; see Redeliver.
	StageRedeliver Stage = "redeliver"
	// StageRetry retries transient errors in process; see Retry.
	StageRetry Stage = "retry"
	// StageDedup gives each message one effect per handler; see Dedup.
	StageDedup Stage = "dedup"
	// StageTimeout bounds each attempt.
	StageTimeout Stage = "timeout"
	// StageRecoverer turns a panic into a transient error.
	StageRecoverer Stage = "recoverer"
)

// Chain is a handler's middleware, outermost first: the first stage sees the message
// first and the result last.
type Chain []Stage
