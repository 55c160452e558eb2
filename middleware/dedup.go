package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
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
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		logger := func() *slog.Logger { return LoggerFrom(ctx, d.Logger) }
		handler := message.HandlerNameFromCtx(ctx)
		key := DedupKey(handler, msg)
		token := uuid.NewString()

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
			logger().DebugContext(ctx, "duplicate dropped")
			report(ctx, OutcomeDuplicate)
			if d.OnDuplicate != nil {
				d.OnDuplicate(handler)
			}
			return nil, nil
		case lease.Held:
			return nil, fmt.Errorf("%w: %s", ErrInFlight, key)
		}

		produced, handlerErr := h(msg)
		storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if held, ok := ctx.Value(heldClaimKey{}).(*HeldClaim); ok && KindOf(handlerErr) == Permanent {
			// The message is going to the poison queue: keep it claimed until it is
			// there, so a duplicate is not poisoned too (see HeldClaim).
			held.set(d.Store, key, token, d.TTL)
			return produced, handlerErr
		}
		if handlerErr != nil {
			if err := d.Store.Release(storeCtx, key, token); err != nil {
				// The claim then ends with its lease, and the retry waits for that.
				logger().WarnContext(ctx, "dedup release failed", "error", err.Error())
			}
			return produced, handlerErr
		}
		committed, err := d.Store.Commit(storeCtx, key, token, "", d.TTL)
		switch {
		case err != nil && !d.FailOpen:
			// The effect happened but is not recorded: handling the message again is
			// safe (every effect is idempotent), losing it is not.
			return produced, domain.Unavailable("dedup commit", err)
		case err != nil:
			logger().WarnContext(ctx, "dedup commit failed; message handled without a mark", "error", err.Error())
		case !committed:
			logger().WarnContext(ctx, "dedup lease ended before commit; the handler may run again", "lease", d.Lease)
		}
		return produced, nil
	}
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
