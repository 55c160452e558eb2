package app

import (
	"context"
	"time"
)

// State is a handler's own key space, for handlers that keep state beyond the use cases'
// stores. Each handler gets one of its own (keys of two handlers never meet), on the
// backend that ORDERFLOW_STORE names. Every operation is atomic and idempotent, so a
// handler that runs twice for one message changes nothing the second time.
//
// A key is its own hash tag on Redis, unless it holds one ("{customer:c1}decision:o1"):
// keys with one tag share a slot. For a handler built WithInbox, the first operation
// carries the message's dedup claim, in the slot of its key, and the last write (see
// inbox.Last) commits the mark when its key is in that slot (PutOnce: when it stored).
type State interface {
	// PutOnce stores value under key for ttl (0: no expiry) unless the key holds a
	// value already, and returns the value held, which is value when created.
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (held []byte, created bool, err error)
	// Get returns the value under key, and false when there is none or it expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// AddOnce adds member to the set named set at time at, unless it is there already
	// (a member keeps the time it was first added), forgets members added before
	// at - window, and returns how many members remain. The set expires window after
	// its last addition.
	AddOnce(ctx context.Context, set, member string, at time.Time, window time.Duration) (int64, error)
}
