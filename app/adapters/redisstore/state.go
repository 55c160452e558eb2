package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
)

// State is a handler's own key space in Redis:
//
//	orderflow:state:<handler>:{<key>}   a value (PutOnce, Get)
//	orderflow:state:<handler>:{<set>}   a sorted set of members by time added (AddOnce)
//
// Each operation is one script or command on one key, so it runs unchanged on a cluster.
type State struct {
	client redis.UniversalClient
	prefix string
}

// NewState returns the state of handler on client.
func NewState(client redis.UniversalClient, handler string) *State {
	return &State{client: client, prefix: "orderflow:state:" + handler + ":"}
}

var _ app.State = (*State)(nil)

func (s *State) key(k string) string { return s.prefix + "{" + k + "}" }

var (
	// putOnceScript: {1, value} when stored, {0, held} when the key held a value.
	putOnceScript = redis.NewScript(`
local ok
if tonumber(ARGV[2]) > 0 then
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
else
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
if ok then return {1, ARGV[1]} end
return {0, redis.call('GET', KEYS[1])}`)
	// addOnceScript: forget members older than the window, add the member unless held,
	// expire the set a window after now; returns the members left.
	addOnceScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])`)
)

// PutOnce implements app.State.
func (s *State) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	res, err := putOnceScript.Run(ctx, s.client, []string{s.key(key)}, value, ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, false, wrap("put "+key, err)
	}
	if len(res) != 2 {
		return nil, false, errors.New("put " + key + ": unexpected reply")
	}
	created, _ := res[0].(int64)
	held, _ := res[1].(string)
	return []byte(held), created == 1, nil
}

// Get implements app.State.
func (s *State) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.client.Get(ctx, s.key(key)).Bytes()
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
	n, err := addOnceScript.Run(ctx, s.client, []string{s.key(set)},
		member, at.UnixMilli(), at.Add(-window).UnixMilli(), max(window.Milliseconds(), 1)).Int64()
	if err != nil {
		return 0, wrap("add to "+set, err)
	}
	return n, nil
}
