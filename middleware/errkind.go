package middleware

import (
	"context"
	"errors"

	"github.com/orderflow/orderflow/domain"
)

// Kind is what a handler's error says about its message, and so what every stage does
// with it. KindOf is the one place that decides it.
type Kind int

// The kinds of error.
const (
	// Transient: the message may succeed later (the provider timed out, a panic):
	// retried in process, then redelivered later, then poisoned.
	Transient Kind = iota
	// Permanent: no retry can fix it (a broken rule, a malformed body, an illegal
	// transition): poisoned at once.
	Permanent
	// Waiting: the message is fine but something it needs is not (the store or the
	// broker is down, a duplicate is in flight): retried for as long as it takes, never
	// poisoned.
	Waiting
	// Cancelled: the worker is stopping: handed back to the broker at once.
	Cancelled
)

// KindOf returns the kind of err.
func KindOf(err error) Kind {
	switch {
	case errors.Is(err, context.Canceled):
		return Cancelled
	case errors.Is(err, domain.ErrUnavailable), errors.Is(err, ErrInFlight):
		return Waiting
	case domain.IsPermanent(err):
		return Permanent
	}
	return Transient
}
