package redisstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
)

// State is a handler's own key space in Redis:
//
//	orderflow:state:<handler>:{<key>}   a value (PutOnce, Get)
//	orderflow:state:<handler>:{<set>}   a sorted set of members by time added (AddOnce)
//
// A key that holds a hash tag already ("{customer:c1}decision:o1") keeps it as it is, so
// that a handler can put keys in one slot. Each operation is one script or command on
// one key, so it runs unchanged on a cluster. Each also carries the message's deferred
// claim (app/inbox): Get runs it in its pipeline, PutOnce and AddOnce claim it in their
// script, and the last write commits the mark when its key is in the slot it was claimed
// in.
type State struct {
	client redis.UniversalClient
	prefix string
}

// NewState returns the state of handler on client.
func NewState(client redis.UniversalClient, handler string) *State {
	return &State{client: client, prefix: "orderflow:state:" + handler + ":"}
}

var _ app.State = (*State)(nil)

// key returns where k lives, and its hash tag.
func (s *State) key(k string) (key, tag string) {
	if open := strings.IndexByte(k, '{'); open >= 0 {
		if n := strings.IndexByte(k[open+1:], '}'); n > 0 {
			return s.prefix + k, k[open+1 : open+1+n]
		}
	}
	return s.prefix + "{" + k + "}", k
}

var (
	// putOnceScript: {1, value} when stored, {0, held} when the key held a value.
	putOnceScript = redis.NewScript(markLua + `
local found = claim_mark()
if found then return {2, found} end
local ok
if tonumber(ARGV[2]) > 0 then
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
else
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
if ok then return {1, ARGV[1], commit_mark()} end
return {0, redis.call('GET', KEYS[1])}`)
	// addOnceScript: forget members older than the window, add the member unless held,
	// expire the set a window after now; returns the members left.
	addOnceScript = redis.NewScript(markLua + `
local found = claim_mark()
if found then return {0, found} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, redis.call('ZCARD', KEYS[1]), commit_mark()}`)
)

// PutOnce implements app.State. It commits the message's mark only when it stored the
// value: a value found is not what the mark's owed event was made from.
func (s *State) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	k, tag := s.key(key)
	plan := planMark(ctx, tag, true)
	cmd, q := plan.run(ctx, s.client, putOnceScript, []string{k}, value, ttl.Milliseconds())
	res, err := cmd.Slice()
	if err != nil {
		return nil, false, wrap("put "+key, err)
	}
	if len(res) < 2 {
		return nil, false, errors.New("put " + key + ": unexpected reply")
	}
	if err := plan.doneWith(ctx, s.client, q, res, 2); err != nil {
		return nil, false, err
	}
	status, _ := res[0].(int64)
	held, _ := res[1].(string)
	return []byte(held), status == 1, nil
}

// Get implements app.State.
func (s *State) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k, tag := s.key(key)
	var get *redis.StringCmd
	if err := withClaim(ctx, s.client, tag, func(p redis.Pipeliner) { get = p.Get(ctx, k) }); err != nil {
		return nil, false, err
	}
	v, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("get "+key, err)
	}
	return v, true, nil
}

// AddOnce implements app.State.
func (s *State) AddOnce(ctx context.Context, set, member string, at time.Time, window time.Duration) (int64, error) {
	k, tag := s.key(set)
	plan := planMark(ctx, tag, true)
	cmd, q := plan.run(ctx, s.client, addOnceScript, []string{k},
		member, at.UnixMilli(), at.Add(-window).UnixMilli(), max(window.Milliseconds(), 1))
	res, err := cmd.Slice()
	if err != nil {
		return 0, wrap("add to "+set, err)
	}
	if len(res) < 2 {
		return 0, errors.New("add to " + set + ": unexpected reply")
	}
	if err := plan.doneWith(ctx, s.client, q, res, 0); err != nil {
		return 0, err
	}
	n, _ := res[1].(int64)
	return n, nil
}
