package domain

import (
	"errors"
	"fmt"
)

// PermanentError is implemented by errors that no retry can fix: a body that breaks a
// rule, a transition the state machine forbids. Middleware sends them to the poison queue
// at once instead of retrying them.
type PermanentError interface {
	error
	Permanent() bool
}

// IsPermanent reports whether err, or any error it wraps, is permanent. Every other error
// is treated as transient.
func IsPermanent(err error) bool {
	var p PermanentError
	return errors.As(err, &p) && p.Permanent()
}

// RuleError says which rule of a value or event was broken, in words a producer can act
// on, e.g. "items[0].quantity must be 1..1000".
type RuleError struct {
	Rule string
}

func (e *RuleError) Error() string { return e.Rule }

// Permanent reports true: the same input breaks the same rule every time.
func (e *RuleError) Permanent() bool { return true }

// Rulef builds a RuleError from a format.
func Rulef(format string, args ...any) error {
	return &RuleError{Rule: fmt.Sprintf(format, args...)}
}

// InField prefixes the rule of a RuleError with the field it concerns; other errors pass
// through unchanged.
func InField(field string, err error) error {
	var rule *RuleError
	if errors.As(err, &rule) {
		return &RuleError{Rule: field + " " + rule.Rule}
	}
	return err
}

// MalformedError is a body that could not be decoded at all.
type MalformedError struct {
	What string
	Err  error
}

func (e *MalformedError) Error() string { return fmt.Sprintf("decode %s: %v", e.What, e.Err) }
func (e *MalformedError) Unwrap() error { return e.Err }

// Permanent reports true: the same bytes fail to decode every time.
func (e *MalformedError) Permanent() bool { return true }

// permanent wraps an error to mark it permanent without changing its text.
type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() error   { return p.err }
func (p permanent) Permanent() bool { return true }

// Permanent marks err as permanent. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err}
}

// IdentifierRule is the rule shared by order ids, customer ids and SKUs.
const IdentifierRule = "must be 1-64 characters of A-Za-z0-9._:-"

// CheckIdentifier returns a RuleError unless s follows IdentifierRule.
func CheckIdentifier(s string) error {
	if len(s) == 0 || len(s) > 64 {
		return &RuleError{Rule: IdentifierRule}
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '.', r == '_', r == ':', r == '-':
		default:
			return &RuleError{Rule: IdentifierRule}
		}
	}
	return nil
}

// ErrUnavailable marks a failure of infrastructure the pipeline depends on (the store,
// the broker): the message is fine and will succeed once the dependency is back, so it
// is retried for as long as that takes and never poisoned.
var ErrUnavailable = errors.New("dependency unavailable")

// Unavailable wraps err so that errors.Is(err, ErrUnavailable) holds.
func Unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
}
