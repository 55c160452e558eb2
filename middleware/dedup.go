package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/domain"
)

// ErrInFlight is a duplicate that arrived while the first copy is still being handled. It
// is transient: the duplicate is retried later, and is then dropped if the first copy
// succeeded, or handled if it failed.
var ErrInFlight = errors.New("same message in flight")

// Dedup gives a message one effect per handler however often it arrives: it claims the
// message id (scoped by handler) before the handler runs, marks it done after success, and
// releases it after a failure, so that a retry is not skipped. Watermill's Deduplicator
// marks the key before the handler and never removes it, which drops a failed message's
// redelivery; this one does not.
type Dedup struct {
	Store lease.Store
	// Lease bounds how long a claim outlives a crashed worker; it must exceed the
	// handler's timeout. Required, like TTL; configs/default.yaml holds both defaults.
	Lease time.Duration
	// TTL is how long a handled message is remembered.
	TTL time.Duration
	// FailOpen handles messages without dedup while the store is down, instead of
	// retrying them until it is back (fail closed, the default).
	FailOpen bool
	// OnDuplicate is called for each duplicate dropped, e.g. to count it.
	OnDuplicate func(handler string)
	Logger      *slog.Logger
	// Defer leaves the claim to the stores (app/inbox): the handler's first store
	// operation runs it with its own read, and its last write commits the mark, which
	// saves a round trip each. Only for a handler whose every route reaches a store
	// before any other effect (handlers.Handler.WithInbox), on stores that run such
	// claims (both of ours do). With Defer, the stores are where the marks are, so
	// FailOpen does not apply: a store that is down fails the handler anyway.
	Defer bool
}

// DedupKey is the key a message is claimed under: the handler and the message id, or a
// hash of the event name and body when the message has no id; and the replay id when the
// message is replayed from the poison queue to this handler.
func DedupKey(handler string, msg *message.Message) string {
	id := msg.UUID
	if id == "" {
		sum := sha256.Sum256(append([]byte(msg.Metadata.Get(envelope.EventNameKey)+"\x00"), msg.Payload...))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	if msg.Metadata.Get(envelope.ReplayHandlerKey) == handler {
		id += "#replay:" + msg.Metadata.Get(envelope.ReplayIDKey)
	}
	return handler + ":" + id
}

// storeTimeout bounds a commit or release, which run even when the message's context
// has ended: the effect happened and must be recorded.
const storeTimeout = 5 * time.Second

// Middleware returns the dedup middleware.
func (d Dedup) Middleware(h message.HandlerFunc) message.HandlerFunc {
	if d.Lease <= 0 || d.TTL <= 0 {
		// A dedup mark that is never kept would let every duplicate through.
		panic(fmt.Sprintf("middleware.Dedup needs a positive Lease and TTL, got %v and %v", d.Lease, d.TTL))
	}
	owing := &owingSet{keys: map[string]time.Time{}}
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		logger := func() *slog.Logger { return LoggerFrom(ctx, d.Logger) }
		handler := message.HandlerNameFromCtx(ctx)
		key := DedupKey(handler, msg)
		token := uuid.NewString()

		if d.Defer {
			return d.deferred(h, msg, key, token, owing)
		}
		state, _, err := d.Store.Claim(ctx, key, token, d.Lease)
		if err != nil {
			if d.FailOpen {
				logger().WarnContext(ctx, "dedup store unavailable; handling without dedup", "error", err.Error())
				return h(msg)
			}
			return nil, domain.Unavailable("dedup claim", err)
		}
		switch state {
		case lease.Done:
			return d.duplicate(ctx, handler)
		case lease.Held:
			return nil, fmt.Errorf("%w: %s", ErrInFlight, key)
		}
		produced, handlerErr := h(msg)
		return produced, d.finish(ctx, key, token, handlerErr)
	}
}

func (d Dedup) duplicate(ctx context.Context, handler string) ([]*message.Message, error) {
	LoggerFrom(ctx, d.Logger).DebugContext(ctx, "duplicate dropped")
	report(ctx, OutcomeDuplicate)
	if d.OnDuplicate != nil {
		d.OnDuplicate(handler)
	}
	return nil, nil
}

// deferred handles msg with its claim left to the stores, as a pending inbox.Claim in
// its context, and then does what the stores left undone.
func (d Dedup) deferred(h message.HandlerFunc, msg *message.Message, key, token string, owing *owingSet) ([]*message.Message, error) {
	ctx := msg.Context()
	claim := &inbox.Claim{Key: key, Token: token, Lease: d.Lease, TTL: d.TTL, MayOwe: mayOwe(msg) || owing.has(key)}
	msg.SetContext(inbox.With(ctx, claim))
	produced, handlerErr := h(msg)
	msg.SetContext(ctx)
	switch claim.State() {
	case inbox.Held:
		return nil, fmt.Errorf("%w: %s", ErrInFlight, key)
	case inbox.Done:
		if errors.Is(handlerErr, inbox.ErrDone) {
			if claim.MayOwe {
				// This attempt published what the mark owes. Only this one: a copy that
				// began before the failed publish was remembered must not forget it.
				owing.drop(key)
			}
			return d.duplicate(ctx, message.HandlerNameFromCtx(ctx))
		}
		// The handler could not publish what the mark owes: retry, and find it done again.
		return produced, handlerErr
	case inbox.Committed:
		if handlerErr != nil {
			// The mark is done but the publish may not be: the retry, in this process
			// or (handed back) as a redelivery, publishes what the mark owes.
			owing.add(key, d.Lease)
		}
		return produced, handlerErr
	case inbox.Pending:
		if handlerErr == nil {
			// The handler succeeded without reaching a store: it had no effect to
			// guard, but its duplicates are to be dropped all the same.
			return produced, d.claimAndCommit(ctx, key, token)
		}
		if claim.Attempted() {
			// A store sent the claim and no answer came back (or only part of one):
			// the claim may be held, and a script that claims and commits at once
			// may have committed the mark too.
			owing.add(key, d.Lease)
			return produced, d.finish(ctx, claim.StoredKey(), token, handlerErr)
		}
		if _, ok := ctx.Value(heldClaimKey{}).(*HeldClaim); !ok || KindOf(handlerErr) != Permanent {
			return produced, handlerErr // nothing was claimed, nothing to release
		}
		// Failed for good before any store (a malformed body): claim it now, so that
		// the Poison middleware marks it done and a duplicate is not poisoned too.
		storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		state, _, err := d.Store.Claim(storeCtx, key, token, d.Lease)
		switch {
		case err != nil:
			LoggerFrom(ctx, d.Logger).WarnContext(ctx, "dedup claim failed; a duplicate may be poisoned too", "error", err.Error())
			return produced, handlerErr
		case state == lease.Done:
			return d.duplicate(ctx, message.HandlerNameFromCtx(ctx))
		case state == lease.Held:
			return nil, fmt.Errorf("%w: %s", ErrInFlight, key)
		}
	}
	if claim.State() == inbox.Claimed && handlerErr != nil {
		// The write that commits the mark may have run with its reply lost (a Redis
		// node that died mid-call): the retry that finds the mark done then publishes
		// what the mark owes, one more time at worst.
		owing.add(key, d.Lease)
	}
	return produced, d.finish(ctx, claim.StoredKey(), token, handlerErr)
}

// claimAndCommit marks a message done that was handled without a claim.
func (d Dedup) claimAndCommit(ctx context.Context, key, token string) error {
	storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	state, _, err := d.Store.Claim(storeCtx, key, token, d.Lease)
	if err == nil && state == lease.Claimed {
		_, err = d.Store.Commit(storeCtx, key, token, "", d.TTL)
	}
	if err != nil {
		return domain.Unavailable("dedup commit", err)
	}
	return nil
}

// finish commits the claim of key after success, releases it after a failure, and hands
// it to the Poison middleware after a permanent failure.
func (d Dedup) finish(ctx context.Context, key, token string, handlerErr error) error {
	logger := LoggerFrom(ctx, d.Logger)
	storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if held, ok := ctx.Value(heldClaimKey{}).(*HeldClaim); ok && KindOf(handlerErr) == Permanent {
		// The message is going to the poison queue: keep it claimed until it is
		// there, so a duplicate is not poisoned too (see HeldClaim).
		held.set(d.Store, key, token, d.TTL)
		return handlerErr
	}
	if handlerErr != nil {
		if err := d.Store.Release(storeCtx, key, token); err != nil {
			// The claim then ends with its lease, and the retry waits for that.
			logger.WarnContext(ctx, "dedup release failed", "error", err.Error())
		}
		return handlerErr
	}
	committed, err := d.Store.Commit(storeCtx, key, token, "", d.TTL)
	switch {
	case err != nil && !d.FailOpen:
		// The effect happened but is not recorded: handling the message again is
		// safe (every effect is idempotent), losing it is not. Give the claim back if
		// it is still ours, so that the retry need not wait for the lease.
		_ = d.Store.Release(storeCtx, key, token)
		return domain.Unavailable("dedup commit", err)
	case err != nil:
		logger.WarnContext(ctx, "dedup commit failed; message handled without a mark", "error", err.Error())
	case !committed:
		logger.WarnContext(ctx, "dedup lease ended before commit; the handler may run again", "lease", d.Lease)
	}
	return nil
}

// mayOwe reports whether msg was delivered before, so that an earlier delivery may have
// died between its mark and its publish: the broker redelivered it, or it came back from
// a retry queue (envelope.RedeliveriesKey, which counts only on signed messages).
func mayOwe(msg *message.Message) bool {
	return msg.Metadata.Get(envelope.RedeliveredKey) == "true" || msg.Metadata.Get(envelope.RedeliveriesKey) != ""
}

// owingSet remembers, in this process, the messages whose mark a store committed but
// whose handler failed after (its publish, most likely), so that their next attempt
// publishes what the mark owes. An entry is dropped when that is done, or forgotten
// after a while: a message handed back to the broker comes back redelivered anyway.
type owingSet struct {
	mu   sync.Mutex
	keys map[string]time.Time
}

// owingKeep is how long a key is remembered: past every in-process retry of a message.
const owingKeep = 10 * time.Minute

func (s *owingSet) add(key string, lease time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	maps.DeleteFunc(s.keys, func(_ string, until time.Time) bool { return now.After(until) })
	s.keys[key] = now.Add(max(owingKeep, lease))
}

func (s *owingSet) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.keys[key]
	return ok && time.Now().Before(until)
}

func (s *owingSet) drop(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

type heldClaimKey struct{}

// HeldClaim carries the claim of a message that failed for good out to the Poison
// middleware, which marks it done once the message is in the poison queue. A duplicate
// is then dropped instead of poisoned a second time, and if the poison queue cannot take
// the message, the claim ends with its lease and the redelivery is poisoned then.
type HeldClaim struct {
	store lease.Store
	key   string
	token string
	ttl   time.Duration
}

// WithHeldClaim returns a context in which Dedup hands over the claim of a message that
// failed for good, and the holder to read it from.
func WithHeldClaim(ctx context.Context) (context.Context, *HeldClaim) {
	held := &HeldClaim{}
	return context.WithValue(ctx, heldClaimKey{}, held), held
}

func (c *HeldClaim) set(store lease.Store, key, token string, ttl time.Duration) {
	c.store, c.key, c.token, c.ttl = store, key, token, ttl
}

// MarkDone marks the held claim done; it does nothing when Dedup held none.
func (c *HeldClaim) MarkDone(ctx context.Context) error {
	if c.store == nil {
		return nil
	}
	storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	_, err := c.store.Commit(storeCtx, c.key, c.token, "", c.ttl)
	return err
}
