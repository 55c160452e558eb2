package redisstore

import (
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

// errRefused stops a transaction whose change, not Redis, failed.
var errRefused = errors.New("change refused")

// Update implements order.Repository with an optimistic transaction: WATCH the key, apply
// change in Go (the state machine lives in domain/), and write only if nobody else did.
func (s *Orders) Update(ctx context.Context, id order.ID, change func(*order.Order) error) (*order.Order, error) {
	key := orderKey(id)
	var (
		updated   *order.Order
		refusedBy error
	)
	txf := func(tx *redis.Tx) error {
		data, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			refusedBy = order.ErrNotFound
			return errRefused
		}
		if err != nil {
			return err
		}
		o, err := decodeOrder(data)
		if err == nil {
			err = change(o)
		}
		if err != nil {
			refusedBy = err
			return errRefused
		}
		next, err := json.Marshal(o.Snapshot())
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, next, 0)
			return nil
		})
		updated = o
		return err
	}
	for range maxUpdateTries {
		err := s.client.Watch(ctx, txf, key)
		switch {
		case err == nil:
			return updated, nil
		case errors.Is(err, errRefused):
			return nil, refusedBy
		case errors.Is(err, redis.TxFailedErr):
			continue
		}
		return nil, wrap("update order "+string(id), err)
	}
	return nil, fmt.Errorf("update order %s: gave up after %d conflicting writes", id, maxUpdateTries)
}
