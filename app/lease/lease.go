// Package lease is the claim protocol that gives a key one holder at a time: claim it
// for a lease, then commit a value to keep for a while, or release it. Dedup marks and
// Idempotency-Key answers are both kept this way, on memory or Redis.
package lease

import (
	"context"
	"errors"
	"strings"
	"time"
)

// State is what Claim found.
type State int

// The states of a key.
const (
	// Claimed: the caller holds the key until it commits, releases, or the lease ends.
	Claimed State = iota
	// Held: another token holds the key; Claim returns that token.
	Held
	// Done: the key was committed; Claim returns the committed value.
	Done
)

func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Held:
		return "held"
	case Done:
		return "done"
	}
	return "unknown"
}

// Store keeps leases. A backend runs each operation atomically on one key.
type Store interface {
	// Claim takes key with token for lease unless it is held or done, and returns what
	// it found: the holder's token when Held, the committed value when Done.
	Claim(ctx context.Context, key, token string, lease time.Duration) (State, string, error)
	// Commit keeps value under key for ttl if token still holds it, and reports
	// whether it did.
	Commit(ctx context.Context, key, token, value string, ttl time.Duration) (bool, error)
	// Release drops key if token still holds it.
	Release(ctx context.Context, key, token string) error
}

// donePrefix starts a committed value as the backends keep it; a bare "done" is a
// committed empty value. Tokens must not start with it, so that a held key and a done
// one never read alike.
const donePrefix = "done"

// ErrBadToken is a token a backend could not tell from a committed value.
var ErrBadToken = errors.New(`lease token is empty or starts with "done"`)

// CheckToken returns ErrBadToken for a token that cannot be held.
func CheckToken(token string) error {
	if token == "" || strings.HasPrefix(token, donePrefix) {
		return ErrBadToken
	}
	return nil
}

// Encode returns how a backend keeps a committed value.
func Encode(value string) string {
	if value == "" {
		return donePrefix
	}
	return donePrefix + ":" + value
}

// Decode reads what a backend keeps under a key: a committed value, or the token that
// holds it.
func Decode(stored string) (state State, value string) {
	if rest, ok := strings.CutPrefix(stored, donePrefix); ok {
		return Done, strings.TrimPrefix(rest, ":")
	}
	return Held, stored
}
