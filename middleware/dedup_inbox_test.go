package middleware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/order"
	"github.com/orderflow/orderflow/middleware"
)

// deferRig is Dedup with Defer over memory stores that run its claims, and a handler
// that reads and writes an order through them as a use case does.
type deferRig struct {
	marks      *memory.Leases
	orders     *memory.Orders
	duplicates int
	calls      int
	// fail, when set, is returned by the handler after its first read.
	fail error
}

func newDeferRig(t *testing.T) *deferRig {
	t.Helper()
	r := &deferRig{marks: memory.NewLeases(), orders: memory.NewOrders()}
	r.orders.ClaimOn(r.marks)
	placed, err := event.OrderPlaced{
		OrderID: "ord-1", CustomerID: "c", Currency: "USD", PlacedAt: "2026-11-22T10:00:00Z",
		Items: []event.Item{{SKU: "S", Quantity: 1, UnitPriceCents: 1}}, TotalCents: 1,
	}.Validate()
	require.NoError(t, err)
	o, err := order.New(placed, time.Now())
	require.NoError(t, err)
	_, err = r.orders.Add(context.Background(), o)
	require.NoError(t, err)
	return r
}

func (r *deferRig) handler(msg *message.Message) ([]*message.Message, error) {
	r.calls++
	ctx := msg.Context()
	if _, err := r.orders.Get(ctx, "ord-1"); err != nil {
		return nil, err
	}
	if r.fail != nil {
		return nil, r.fail
	}
	if err := inbox.Last(ctx, event.OrderConfirmed{OrderID: "ord-1", CustomerID: "c"}); err != nil {
		return nil, err
	}
	_, err := r.orders.Update(ctx, "ord-1", func(o *order.Order) error { return o.ApplyReserved(time.Now()) })
	return nil, err
}

func (r *deferRig) handle(ctx context.Context, id string, h message.HandlerFunc) error {
	d := middleware.Dedup{Store: r.marks, Lease: time.Minute, TTL: time.Hour, Defer: true,
		OnDuplicate: func(string) { r.duplicates++ }}
	msg := message.NewMessage(id, []byte("{}"))
	msg.SetContext(ctx)
	_, err := d.Middleware(h)(msg)
	return err
}

func TestDedup_defer_commits_with_the_last_write_and_drops_the_duplicate(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	require.NoError(t, r.handle(context.Background(), "m1", r.handler))
	assert.Equal(t, 1, r.marks.Len(), "one mark, committed by the store")
	require.NoError(t, r.handle(context.Background(), "m1", r.handler))
	assert.Equal(t, 1, r.duplicates, "the first read found it done")
	o, err := r.orders.Get(context.Background(), "ord-1")
	require.NoError(t, err)
	assert.Equal(t, order.Reserved, o.Status())
}

func TestDedup_defer_a_copy_in_flight_is_retried(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	inner := func(msg *message.Message) ([]*message.Message, error) {
		// While the first copy is in its handler, the second one arrives.
		if r.calls == 0 {
			r.calls++
			if _, err := r.orders.Get(msg.Context(), "ord-1"); err != nil {
				return nil, err
			}
			err := r.handle(context.Background(), "m1", r.handler)
			assert.ErrorIs(t, err, middleware.ErrInFlight)
			return nil, nil
		}
		return r.handler(msg)
	}
	require.NoError(t, r.handle(context.Background(), "m1", inner))
	assert.Equal(t, 2, r.calls, "the copy ran up to its first read only")
	require.NoError(t, r.handle(context.Background(), "m1", r.handler))
	assert.Equal(t, 1, r.duplicates, "then it is done")
}

func TestDedup_defer_releases_after_a_failure(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	r.fail = errors.New("provider timed out")
	require.ErrorIs(t, r.handle(context.Background(), "m1", r.handler), r.fail)
	r.fail = nil
	require.NoError(t, r.handle(context.Background(), "m1", r.handler), "the retry is not skipped")
	assert.Zero(t, r.duplicates)
	assert.Equal(t, 2, r.calls)
}

func TestDedup_defer_hands_a_permanent_failure_before_any_store_to_poison(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	bad := func(*message.Message) ([]*message.Message, error) {
		r.calls++
		return nil, domain.Rulef("items[0].quantity must be 1..1000")
	}
	ctx, held := middleware.WithHeldClaim(context.Background())
	require.Error(t, r.handle(ctx, "m1", bad))
	require.NoError(t, held.MarkDone(ctx), "as Poison does once the message is in its queue")
	ctx, _ = middleware.WithHeldClaim(context.Background())
	require.NoError(t, r.handle(ctx, "m1", bad), "the duplicate is dropped, not poisoned again")
	assert.Equal(t, 1, r.duplicates)
}

func TestDedup_defer_says_when_a_message_found_done_may_owe_its_event(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	var mayOwe []bool
	failPublish := true
	h := func(msg *message.Message) ([]*message.Message, error) {
		mayOwe = append(mayOwe, inbox.From(msg.Context()).MayOwe)
		if _, err := r.handler(msg); err != nil {
			return nil, err
		}
		if failPublish {
			failPublish = false
			return nil, errors.New("publish: broker gone")
		}
		return nil, nil
	}
	d := middleware.Dedup{Store: r.marks, Lease: time.Minute, TTL: time.Hour, Defer: true,
		OnDuplicate: func(string) { r.duplicates++ }}
	mw := d.Middleware(h)
	run := func(metadata map[string]string) error {
		msg := message.NewMessage("m1", []byte("{}"))
		for k, v := range metadata {
			msg.Metadata.Set(k, v)
		}
		_, err := mw(msg)
		return err
	}

	require.Error(t, run(nil), "the mark is committed, the publish failed")
	require.NoError(t, run(nil), "the retry finds it done")
	require.NoError(t, run(nil), "a later duplicate too")
	require.NoError(t, run(map[string]string{envelope.RedeliveredKey: "true"}), "and a redelivery")
	assert.Equal(t, []bool{false, true, false, true}, mayOwe,
		"only the retry after the failed publish, and a redelivery, may owe the event")
	assert.Equal(t, 3, r.duplicates)
}

func TestDedup_defer_a_retry_after_a_lost_reply_may_owe_its_event(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	var mayOwe []bool
	lostReply := true
	h := func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		claim := inbox.From(ctx)
		mayOwe = append(mayOwe, claim.MayOwe)
		if !lostReply {
			return r.handler(msg)
		}
		lostReply = false
		if _, err := r.orders.Get(ctx, "ord-1"); err != nil {
			return nil, err
		}
		// The last write commits the mark on the server, and its reply never comes.
		committed, err := r.marks.Commit(ctx, claim.StoredKey(), claim.Token, "", time.Hour)
		require.NoError(t, err)
		require.True(t, committed)
		return nil, errors.New("update order ord-1: connection reset by peer")
	}
	d := middleware.Dedup{Store: r.marks, Lease: time.Minute, TTL: time.Hour, Defer: true,
		OnDuplicate: func(string) { r.duplicates++ }}
	mw := d.Middleware(h)
	for range 2 {
		_, _ = mw(message.NewMessage("m1", []byte("{}")))
	}
	assert.Equal(t, []bool{false, true}, mayOwe, "the retry finds the mark done and publishes what it owes")
	assert.Equal(t, 1, r.duplicates)
}

func TestDedup_defer_a_claim_sent_without_an_answer_is_released_and_may_owe(t *testing.T) {
	t.Parallel()
	r := newDeferRig(t)
	var mayOwe []bool
	first := true
	h := func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		claim := inbox.From(ctx)
		mayOwe = append(mayOwe, claim.MayOwe)
		if !first {
			return r.handler(msg)
		}
		first = false
		// A script that claims and commits at once ran on the server; its reply was lost.
		claim.Attempt(claim.Key, "")
		_, _, err := r.marks.Claim(ctx, claim.Key, claim.Token, time.Minute)
		require.NoError(t, err)
		_, err = r.marks.Commit(ctx, claim.Key, claim.Token, claim.MarkValue(""), time.Hour)
		require.NoError(t, err)
		return nil, errors.New("record notification: connection reset by peer")
	}
	d := middleware.Dedup{Store: r.marks, Lease: time.Minute, TTL: time.Hour, Defer: true,
		OnDuplicate: func(string) { r.duplicates++ }}
	mw := d.Middleware(h)
	_, err := mw(message.NewMessage("m1", []byte("{}")))
	require.Error(t, err)
	_, err = mw(message.NewMessage("m1", []byte("{}")))
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, mayOwe, "the retry publishes what the mark owes")
}

func TestDedup_defer_a_claim_held_by_its_own_token_is_claimed(t *testing.T) {
	t.Parallel()
	c := &inbox.Claim{Key: "k", Token: "t1"}
	require.NoError(t, c.Settle("k", "", lease.Held, "t1"), "the same claim, sent again")
	assert.Equal(t, inbox.Claimed, c.State())

	c = &inbox.Claim{Key: "k", Token: "t1"}
	require.NoError(t, c.Settle("k", "", lease.Done, c.MarkValue("order.confirmed\n{}")), "its own commit, sent again")
	assert.Equal(t, inbox.Committed, c.State())
	assert.Equal(t, "order.confirmed\n{}", c.Found())

	c = &inbox.Claim{Key: "k", Token: "t2"}
	require.ErrorIs(t, c.Settle("k", "", lease.Done, (&inbox.Claim{Token: "t1"}).MarkValue("order.confirmed\n{}")), inbox.ErrDone)
	assert.Equal(t, "order.confirmed\n{}", c.Found(), "another attempt's mark owes its event")
}
