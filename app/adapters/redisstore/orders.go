package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/order"
)

// Orders keeps each order as a JSON snapshot under its own key.
type Orders struct {
	client redis.UniversalClient
}

func orderKey(id order.ID) string { return "orderflow:order:{" + string(id) + "}" }

// maxUpdateTries bounds optimistic retries of one update under contention.
const maxUpdateTries = 50

// addScript stores an order unless one is there, and commits the message's mark with it
// when this is its last write: {1, committed} when added, {0, 0, held} when not.
var addScript = redis.NewScript(markLua + `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return {1, commit_mark()} end
return {0, 0, redis.call('GET', KEYS[1])}`)

// Add implements order.Repository. When it is not the message's last write, it runs the
// message's pending claim in the same pipeline (app/inbox), so that recording an order
// on arrival costs no round trip of its own.
func (s *Orders) Add(ctx context.Context, o *order.Order) (*order.Order, error) {
	data, err := json.Marshal(o.Snapshot())
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.ID(), err)
	}
	claim := inbox.From(ctx)
	if owed, last := claim.TakeLast(); last {
		claim.PutBack(owed) // for planMark
	} else {
		return s.addWithClaim(ctx, o, data)
	}
	tag := string(o.ID())
	if err := settleFirst(ctx, s.client, tag); err != nil {
		return nil, err
	}
	plan := planMark(ctx, tag, false)
	cmd, _ := plan.run(ctx, s.client, addScript, []string{orderKey(o.ID())}, data)
	res, err := cmd.Slice()
	if err != nil || len(res) < 2 {
		return nil, wrap("add order "+string(o.ID()), errors.Join(err, errReply(res)))
	}
	if added, _ := res[0].(int64); added == 1 {
		committed, _ := res[1].(int64)
		_ = plan.done(ctx, s.client, nil, nil, committed == 1)
		inbox.From(ctx).See(orderKey(o.ID()), data)
		return o, nil
	}
	held, _ := res[2].(string)
	inbox.From(ctx).See(orderKey(o.ID()), []byte(held))
	return decodeOrder([]byte(held))
}

// addWithClaim stores data unless the order is there, and reads back what is stored,
// in one pipeline with the message's pending claim. A claim found held or done has the
// SET NX run anyway: harmless, since every attempt of a message records the same order,
// and a message found done recorded it already.
func (s *Orders) addWithClaim(ctx context.Context, o *order.Order, data []byte) (*order.Order, error) {
	key := orderKey(o.ID())
	var add *redis.BoolCmd
	var get *redis.StringCmd
	if err := withClaim(ctx, s.client, string(o.ID()), func(p redis.Pipeliner) {
		add = p.SetNX(ctx, key, data, 0)
		get = p.Get(ctx, key)
	}); err != nil {
		return nil, err
	}
	added, err := add.Result()
	if err != nil {
		return nil, wrap("add order "+string(o.ID()), err)
	}
	held, err := get.Bytes()
	if err != nil {
		return nil, wrap("add order "+string(o.ID()), err)
	}
	inbox.From(ctx).See(key, held)
	if added {
		return o, nil
	}
	return decodeOrder(held)
}

// errReply is the error of a script reply too short to read.
func errReply(res []any) error {
	if res == nil {
		return nil
	}
	return fmt.Errorf("unexpected reply %v", res)
}

// Get implements order.Repository. It runs the message's pending claim in the same
// pipeline (app/inbox).
func (s *Orders) Get(ctx context.Context, id order.ID) (*order.Order, error) {
	data, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return decodeOrder(data)
}

func (s *Orders) get(ctx context.Context, id order.ID) ([]byte, error) {
	key := orderKey(id)
	var get *redis.StringCmd
	if err := withClaim(ctx, s.client, string(id), func(p redis.Pipeliner) { get = p.Get(ctx, key) }); err != nil {
		return nil, err
	}
	data, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, order.ErrNotFound
	}
	if err != nil {
		return nil, wrap("get order "+string(id), err)
	}
	inbox.From(ctx).See(key, data)
	return data, nil
}

func decodeOrder(data []byte) (*order.Order, error) {
	var snap order.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	return order.FromSnapshot(snap)
}

// casScript writes ARGV[2] only if the key still holds ARGV[1]: an optimistic update in
// one round trip, where WATCH, GET, MULTI/EXEC and UNWATCH take four. It commits the
// message's mark with the write when this is its last one: 0 when the key changed, else
// 1 + 1 if it committed the mark.
var casScript = redis.NewScript(markLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1 + commit_mark()`)

// Update implements order.Repository optimistically: read the order, apply change in Go
// (the state machine lives in domain/), and write it only if nobody wrote in between;
// else read again. Two round trips without contention, one when the message read the
// order already (app/inbox keeps what it read), and the write commits the message's
// mark when it is its last.
func (s *Orders) Update(ctx context.Context, id order.ID, change func(*order.Order) error) (*order.Order, error) {
	key := orderKey(id)
	claim := inbox.From(ctx)
	// Taken now and again after change, which may say itself that its write is last.
	owed, last := claim.TakeLast()
	data, seen := claim.Seen(key)
	for range maxUpdateTries {
		if !seen {
			var err error
			if data, err = s.get(ctx, id); err != nil {
				return nil, err
			}
		}
		seen = false
		o, err := decodeOrder(data)
		if err != nil {
			return nil, err
		}
		if err := change(o); err != nil {
			return nil, err
		}
		if v, l := claim.TakeLast(); l {
			owed, last = v, true
		}
		next, err := json.Marshal(o.Snapshot())
		if err != nil {
			return nil, fmt.Errorf("encode order %s: %w", id, err)
		}
		if bytes.Equal(next, data) {
			return o, nil // a repeated transition: nothing to write
		}
		if last {
			claim.PutBack(owed) // for planMark
		}
		plan := planMark(ctx, string(id), false)
		written, err := func() (int64, error) {
			cmd, _ := plan.run(ctx, s.client, casScript, []string{key}, data, next)
			return cmd.Int64()
		}()
		if err != nil {
			return nil, wrap("update order "+string(id), err)
		}
		if written > 0 {
			_ = plan.done(ctx, s.client, nil, nil, written == 2)
			claim.See(key, next)
			return o, nil
		}
	}
	return nil, fmt.Errorf("update order %s: gave up after %d conflicting writes", id, maxUpdateTries)
}
