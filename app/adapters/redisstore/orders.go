package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/domain/order"
)

// Orders keeps each order as a JSON snapshot under its own key.
type Orders struct {
	client redis.UniversalClient
}

func orderKey(id order.ID) string { return "orderflow:order:{" + string(id) + "}" }

// maxUpdateTries bounds optimistic retries of one update under contention.
const maxUpdateTries = 50

// Add implements order.Repository.
func (s *Orders) Add(ctx context.Context, o *order.Order) (*order.Order, error) {
	data, err := json.Marshal(o.Snapshot())
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.ID(), err)
	}
	added, err := s.client.SetNX(ctx, orderKey(o.ID()), data, 0).Result()
	if err != nil {
		return nil, wrap("add order "+string(o.ID()), err)
	}
	if added {
		return o, nil
	}
	return s.Get(ctx, o.ID())
}

// Get implements order.Repository.
func (s *Orders) Get(ctx context.Context, id order.ID) (*order.Order, error) {
	data, err := s.client.Get(ctx, orderKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, order.ErrNotFound
	}
	if err != nil {
		return nil, wrap("get order "+string(id), err)
	}
	return decodeOrder(data)
}

func decodeOrder(data []byte) (*order.Order, error) {
	var snap order.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	return order.FromSnapshot(snap)
}

// casScript writes ARGV[2] only if the key still holds ARGV[1]: an optimistic update in
// one round trip, where WATCH, GET, MULTI/EXEC and UNWATCH take four.
var casScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`)

// Update implements order.Repository optimistically: read the order, apply change in Go
// (the state machine lives in domain/), and write it only if nobody wrote in between;
// else read again. Two round trips without contention.
func (s *Orders) Update(ctx context.Context, id order.ID, change func(*order.Order) error) (*order.Order, error) {
	key := orderKey(id)
	for range maxUpdateTries {
		data, err := s.client.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, order.ErrNotFound
		}
		if err != nil {
			return nil, wrap("get order "+string(id), err)
		}
		o, err := decodeOrder(data)
		if err != nil {
			return nil, err
		}
		if err := change(o); err != nil {
			return nil, err
		}
		next, err := json.Marshal(o.Snapshot())
		if err != nil {
			return nil, fmt.Errorf("encode order %s: %w", id, err)
		}
		if bytes.Equal(next, data) {
			return o, nil // a repeated transition: nothing to write
		}
		written, err := casScript.Run(ctx, s.client, []string{key}, data, next).Int()
		if err != nil {
			return nil, wrap("update order "+string(id), err)
		}
		if written == 1 {
			return o, nil
		}
	}
	return nil, fmt.Errorf("update order %s: gave up after %d conflicting writes", id, maxUpdateTries)
}
