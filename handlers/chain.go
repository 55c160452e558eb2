package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app"
)

// Stage is one middleware of a handler's chain. The built-in stages are built by the
// worker from configuration; a custom stage carries its own constructor (see Custom), so
// a row can add one without any other file changing.
type Stage struct {
	// Name identifies the stage in a chain and in error messages.
	Name string
	// build is nil for the built-in stages.
	build func(StageEnv) (message.HandlerMiddleware, error)
}

// StageEnv is what a custom stage's constructor gets.
type StageEnv struct {
	// Handler is the name of the handler whose chain the stage is in.
	Handler string
	Logger  *slog.Logger
	Clock   app.Clock
}

// Custom returns a stage that build constructs, once per handler whose chain holds it.
func Custom(name string, build func(StageEnv) (message.HandlerMiddleware, error)) Stage {
	if build == nil {
		panic("handlers.Custom: stage " + name + " has no constructor")
	}
	return Stage{Name: name, build: build}
}

// Build returns the constructor of a custom stage, and false for a built-in one.
func (s Stage) Build() (func(StageEnv) (message.HandlerMiddleware, error), bool) {
	return s.build, s.build != nil
}

// The built-in stages. README.md ("Middleware") says what each does and how it is
// configured.
var (
	// StageCorrelation sets correlation and causation ids.
	StageCorrelation = Stage{Name: "correlation"}
	// StageLogging puts a logger naming the message's ids into its context.
	StageLogging = Stage{Name: "logging"}
	// StageMetrics counts outcomes per handler.
	StageMetrics = Stage{Name: "metrics"}
	// StageThrottle limits the handler's rate (handlers.<name>.throttle).
	StageThrottle = Stage{Name: "throttle"}
	// StagePoison moves what failed for good to the poison queue.
	StagePoison = Stage{Name: "poison"}
	// StageVerify refuses events Orderflow did not sign (README, "Signed events"); every
	// chain has it.
	StageVerify = Stage{Name: "verify"}
	// StageRedeliver parks what retry gave up on for a delayed redelivery, where the
	// broker can.
	StageRedeliver = Stage{Name: "redeliver"}
	// StageRetry retries transient errors in process (handlers.<name>.retry).
	StageRetry = Stage{Name: "retry"}
	// StageDedup gives each message one effect per handler.
	StageDedup = Stage{Name: "dedup"}
	// StageTimeout bounds each attempt (handlers.<name>.timeout).
	StageTimeout = Stage{Name: "timeout"}
	// StageRecoverer turns a panic into a transient error.
	StageRecoverer = Stage{Name: "recoverer"}
)

// Chain is a handler's middleware, outermost first: the first stage sees the message
// first and the result last.
type Chain []Stage

// Standard is the chain every handler gets unless its row says otherwise, outermost
// first:
//   - Correlation, so every later stage, log line and published event has the ids;
//   - Logging, so every line from here in names handler, message, correlation and
//     causation;
//   - Metrics, counting each message once whatever happens inside;
//   - Throttle before anything that costs: a message waits for a token first;
//   - Poison outside Retry, so only a permanent error or what Retry gave up on is
//     poisoned, and is then acked instead of redelivered for ever;
//   - Verify inside Poison, so a forged or tampered event is poisoned with a reason
//     that starts with "signature", and before every stage that reads the metadata
//     only a signed message may set (Redeliver, Retry, Dedup);
//   - Redeliver between Poison and Retry: on RabbitMQ, what Retry gave up on waits in a retry queue
//     (1s, 10s, 60s) and comes back, before Poison gets it;
//   - Retry outside Dedup (the order Watermill's examples suggest is the other way
//     round): a duplicate that meets its original in flight gets an in-process backoff
//     instead of a nack that the broker redelivers at once, and a failed attempt's claim
//     is released before the next attempt claims again;
//   - Timeout inside Dedup, so a claim is always committed or released, and per attempt;
//   - Recoverer innermost, so a panic becomes an error that Retry retries.
var Standard = Chain{
	StageCorrelation,
	StageLogging,
	StageMetrics,
	StageThrottle,
	StagePoison,
	StageVerify,
	StageRedeliver,
	StageRetry,
	StageDedup,
	StageTimeout,
	StageRecoverer,
}

// Has reports whether the chain holds a stage named like s.
func (c Chain) Has(s Stage) bool { return c.index(s.Name) >= 0 }

func (c Chain) index(name string) int {
	return slices.IndexFunc(c, func(s Stage) bool { return s.Name == name })
}

// Without returns a copy of the chain without the stages named like those given.
func (c Chain) Without(stages ...Stage) Chain {
	out := make(Chain, 0, len(c))
	for _, s := range c {
		if !slices.ContainsFunc(stages, func(d Stage) bool { return d.Name == s.Name }) {
			out = append(out, s)
		}
	}
	return out
}

// Place is where With puts a stage: Before or After a stage of the chain.
type Place struct {
	anchor string
	after  bool
}

// Before places a stage just outside s, so it sees the message before s does.
func Before(s Stage) Place { return Place{anchor: s.Name} }

// After places a stage just inside s, so it sees the message after s does.
func After(s Stage) Place { return Place{anchor: s.Name, after: true} }

// With returns a copy of the chain with s added at place. The table is code, so a place
// whose stage the chain lacks, or a stage it already holds, is a programming error: With
// panics, and every test that reads the table fails.
func (c Chain) With(s Stage, place Place) Chain {
	if c.Has(s) {
		panic(fmt.Sprintf("handlers: chain already holds stage %s", s.Name))
	}
	i := c.index(place.anchor)
	if i < 0 {
		panic(fmt.Sprintf("handlers: cannot place stage %s next to %s, which the chain lacks", s.Name, place.anchor))
	}
	if place.after {
		i++
	}
	return slices.Insert(slices.Clone(c), i, s)
}

// Check returns the rules of order that the chain breaks, each of which would lose or
// double a message's effect:
//   - correlation is outermost, so every stage logs and publishes with the ids;
//   - poison is outside retry, so only what retry gave up on is poisoned;
//   - dedup is inside retry, so a failed attempt's claim is released before the next;
//   - recoverer is innermost, so a panic becomes an error the stages above see;
//   - no stage appears twice.
func (c Chain) Check() error {
	var errs []error
	seen := map[string]bool{}
	for _, s := range c {
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("stage %s appears twice", s.Name))
		}
		seen[s.Name] = true
	}
	if i := c.index(StageCorrelation.Name); i > 0 {
		errs = append(errs, fmt.Errorf("correlation must be the outermost stage, is at %d", i+1))
	}
	if i := c.index(StageRecoverer.Name); i >= 0 && i != len(c)-1 {
		errs = append(errs, fmt.Errorf("recoverer must be the innermost stage, is at %d of %d", i+1, len(c)))
	}
	outside := func(outer, inner Stage) {
		o, in := c.index(outer.Name), c.index(inner.Name)
		if o >= 0 && in >= 0 && o > in {
			errs = append(errs, fmt.Errorf("%s must be outside %s", outer.Name, inner.Name))
		}
	}
	if !c.Has(StageVerify) {
		errs = append(errs, errors.New("verify is missing: every chain checks signatures, so no neighbour's forged event is applied"))
	}
	outside(StagePoison, StageVerify)
	outside(StageVerify, StageRedeliver)
	outside(StageVerify, StageRetry)
	outside(StageVerify, StageDedup)
	outside(StagePoison, StageRetry)
	outside(StageRetry, StageDedup)
	outside(StagePoison, StageRedeliver)
	outside(StageRedeliver, StageRetry)
	return errors.Join(errs...)
}

// Names returns the names of the chain's stages, outermost first.
func (c Chain) Names() []string {
	names := make([]string, len(c))
	for i, s := range c {
		names[i] = s.Name
	}
	return names
}
