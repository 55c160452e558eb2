// Package inbox lets the stores carry a message's dedup claim and mark along with the use
// case's own work, to save round trips: the Dedup middleware leaves a pending Claim in the
// message's context instead of claiming at once; the first store operation runs it
// together with its own read (or inside its own script), and the write that completes the
// message's effects commits the mark in the same atomic step.
//
// The mark then keeps the event the message owes (see Last), because the handler
// publishes after that write: a message found done that may have lost its publish (see
// Claim.MayOwe) publishes the event again, with the same deterministic id, so downstream
// drops it if it got out the first time.
//
// A handler opts in only when each of its routes reaches a store (use cases or
// app.State) before any other effect, since nothing else runs the claim.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/domain/event"
)

// ErrHeld and ErrDone are what a store returns, instead of doing its work, when it ran
// the claim and found the message in flight elsewhere or handled already. The Dedup
// middleware turns them into a retry and a dropped duplicate.
var (
	ErrHeld = errors.New("message claimed by another attempt")
	ErrDone = errors.New("message handled already")
)

// State is how far a claim has got.
type State int

// The states of a Claim.
const (
	// Pending: nothing has run it yet.
	Pending State = iota
	// Claimed: this attempt holds it; the mark is not committed yet.
	Claimed
	// Held: another attempt holds it; this one must not handle the message.
	Held
	// Done: the message was handled; Found holds what its mark keeps.
	Done
	// Committed: a store committed the mark with the message's last write.
	Committed
)

// Claim is one attempt's dedup claim of one message. A message is handled by one
// goroutine, so a Claim needs no lock.
type Claim struct {
	// Key is the lease key (handler and message id, see middleware.DedupKey).
	Key   string
	Token string
	// Lease bounds the claim; TTL is how long the mark is kept once done.
	Lease, TTL time.Duration
	// MayOwe says that an earlier delivery or attempt may have died or failed between
	// committing the mark and publishing, so that a mark found done must have its event
	// published again. Without it, a message found done is dropped and publishes
	// nothing: a duplicate of a message handled in full.
	MayOwe bool

	state State
	// attempted says that a store sent the claim: the backend may hold it even when
	// the reply never came back.
	attempted bool
	// stored is the key as the backend claimed it (a Redis store puts it in the hash
	// slot of the keys it was claimed with); slot names that slot.
	stored, slot string
	found        string
	last         bool
	owed         string
	seen         map[string][]byte
}

type claimKey struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c *Claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// Without returns ctx carrying no claim, for a store call made alongside the one that
// carries it (to save a round trip in sequence). Such a call runs before the claim says
// whether this attempt owns the message, so it must change nothing when run for a
// duplicate, and it never commits the mark.
func Without(ctx context.Context) context.Context {
	return context.WithValue(ctx, claimKey{}, (*Claim)(nil))
}

// From returns the claim ctx carries, or nil.
func From(ctx context.Context) *Claim {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	return c
}

// State returns how far the claim has got; a nil claim is Pending for ever.
func (c *Claim) State() State {
	if c == nil {
		return Pending
	}
	return c.state
}

// Pending reports whether the claim still has to be run.
func (c *Claim) Pending() bool { return c != nil && c.state == Pending }

// StoredKey is the key the claim was run under (Key until then), for commit and release.
func (c *Claim) StoredKey() string {
	if c.stored == "" {
		return c.Key
	}
	return c.stored
}

// Slot names the hash slot the claim was run in ("" where the backend has none).
func (c *Claim) Slot() string { return c.slot }

// Found is what the mark of a Done claim keeps.
func (c *Claim) Found() string { return c.found }

// Attempt records that a store is sending the claim under stored, in slot: from then
// on the backend may hold it, whatever comes back.
func (c *Claim) Attempt(stored, slot string) {
	c.attempted, c.stored, c.slot = true, stored, slot
}

// Attempted reports whether a store sent the claim (see Attempt).
func (c *Claim) Attempted() bool { return c != nil && c.attempted }

// Settle records what running the claim under stored, in slot, found, and returns
// ErrHeld or ErrDone when the message must not be handled by this attempt. A mark that
// this attempt's own token committed (a client that sent the committing call again
// after losing its reply) counts as committed, not as a duplicate.
func (c *Claim) Settle(stored, slot string, state lease.State, value string) error {
	c.attempted, c.stored, c.slot = true, stored, slot
	switch state {
	case lease.Held:
		if value == c.Token {
			c.state = Claimed
			return nil
		}
		c.state = Held
		return fmt.Errorf("%w: %s", ErrHeld, c.Key)
	case lease.Done:
		token, owed := splitMark(value)
		if token == c.Token {
			c.state, c.found = Committed, owed
			return nil
		}
		c.state, c.found = Done, owed
		return fmt.Errorf("%w: %s", ErrDone, c.Key)
	}
	c.state = Claimed
	return nil
}

// markSep ends the token in what a committed mark keeps; no token or event name holds it.
const markSep = "\x1f"

// MarkValue is what the mark keeps once committed: the committing attempt's token, so
// that the same call sent again knows its own commit, and the event it owes (see Last).
func (c *Claim) MarkValue(owed string) string { return c.Token + markSep + owed }

// splitMark reads what MarkValue made; a mark without a token keeps only what it owes.
func splitMark(value string) (token, owed string) {
	token, owed, ok := strings.Cut(value, markSep)
	if !ok {
		return "", value
	}
	return token, owed
}

// Last says that the next store write completes the message's effects, and that the
// message then publishes e (nil: nothing). A store that can commit the mark in that
// write keeps e with it; either way the next write takes the flag (see TakeLast).
func Last(ctx context.Context, e event.Event) error {
	c := From(ctx)
	if c == nil {
		return nil
	}
	owed := ""
	if e != nil {
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode %s: %w", e.EventName(), err)
		}
		owed = e.EventName() + "\n" + string(payload)
	}
	c.last, c.owed = true, owed
	return nil
}

// TakeLast is called by every store write: it reports whether that write is the last
// one (see Last), and what the mark should keep if the write commits it.
func (c *Claim) TakeLast() (value string, last bool) {
	if c == nil {
		return "", false
	}
	value, last = c.owed, c.last
	c.last, c.owed = false, ""
	return value, last
}

// PutBack undoes TakeLast, for a store that took the flag early.
func (c *Claim) PutBack(value string) {
	if c != nil {
		c.last, c.owed = true, value
	}
}

// Committed records that a store committed the mark.
func (c *Claim) Committed() { c.state = Committed }

// Owed decodes the event a mark keeps (see Last), or returns nil when it keeps none.
func Owed(found string) (event.Event, error) {
	if found == "" {
		return nil, nil
	}
	name, payload, ok := strings.Cut(found, "\n")
	if !ok || !json.Valid([]byte(payload)) {
		return nil, fmt.Errorf("dedup mark keeps %q, not an event", found)
	}
	return rawEvent{name: name, payload: json.RawMessage(payload)}, nil
}

// rawEvent is an event as a mark keeps it: its name and its JSON body.
type rawEvent struct {
	name    string
	payload json.RawMessage
}

func (e rawEvent) EventName() string            { return e.name }
func (e rawEvent) MarshalJSON() ([]byte, error) { return e.payload, nil }

// See keeps what a store read or wrote under key during this attempt, so that a later
// compare-and-set can compare against it without reading it again (a stale value only
// costs the failed compare and a read).
func (c *Claim) See(key string, value []byte) {
	if c == nil {
		return
	}
	if c.seen == nil {
		c.seen = map[string][]byte{}
	}
	c.seen[key] = value
}

// Seen returns what See kept under key.
func (c *Claim) Seen(key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.seen[key]
	return v, ok
}
