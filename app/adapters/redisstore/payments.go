package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/domain/payment"
)

// Payments keeps one outcome per order.
type Payments struct {
	client redis.UniversalClient
}

func paymentKey(orderID string) string { return "orderflow:payment:{" + orderID + "}" }

// Record implements payment.Repository.
func (s *Payments) Record(ctx context.Context, orderID string, outcome payment.Outcome) (payment.Outcome, error) {
	data, err := json.Marshal(outcome)
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("encode payment of %s: %w", orderID, err)
	}
	added, err := s.client.SetNX(ctx, paymentKey(orderID), data, 0).Result()
	if err != nil {
		return payment.Outcome{}, wrap("record payment of "+orderID, err)
	}
	if added {
		return outcome, nil
	}
	held, _, err := s.Get(ctx, orderID)
	return held, err
}

// Get implements payment.Repository.
func (s *Payments) Get(ctx context.Context, orderID string) (payment.Outcome, bool, error) {
	data, err := s.client.Get(ctx, paymentKey(orderID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return payment.Outcome{}, false, nil
	}
	if err != nil {
		return payment.Outcome{}, false, wrap("get payment of "+orderID, err)
	}
	var out payment.Outcome
	if err := json.Unmarshal(data, &out); err != nil {
		return payment.Outcome{}, false, fmt.Errorf("decode payment of %s: %w", orderID, err)
	}
	return out, true, nil
}
