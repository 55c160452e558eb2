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

// recordPaymentScript keeps the first outcome of an order, and commits the message's mark
// with it when this is its last write: {1, committed} when recorded, {0, 0, held} when
// an outcome was there.
var recordPaymentScript = redis.NewScript(markLua + `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return {1, commit_mark()} end
return {0, 0, redis.call('GET', KEYS[1])}`)

// Record implements payment.Repository.
func (s *Payments) Record(ctx context.Context, orderID string, outcome payment.Outcome) (payment.Outcome, error) {
	data, err := json.Marshal(outcome)
	if err != nil {
		return payment.Outcome{}, fmt.Errorf("encode payment of %s: %w", orderID, err)
	}
	if err := settleFirst(ctx, s.client, orderID); err != nil {
		return payment.Outcome{}, err
	}
	plan := planMark(ctx, orderID, false)
	cmd, _ := plan.run(ctx, s.client, recordPaymentScript, []string{paymentKey(orderID)}, data)
	res, err := cmd.Slice()
	if err != nil || len(res) < 2 {
		return payment.Outcome{}, wrap("record payment of "+orderID, errors.Join(err, errReply(res)))
	}
	if added, _ := res[0].(int64); added == 1 {
		committed, _ := res[1].(int64)
		_ = plan.done(ctx, s.client, nil, nil, committed == 1)
		return outcome, nil
	}
	held, _ := res[2].(string)
	return decodePayment(orderID, []byte(held))
}

// Get implements payment.Repository. It runs the message's pending claim in the same
// pipeline (app/inbox).
func (s *Payments) Get(ctx context.Context, orderID string) (payment.Outcome, bool, error) {
	var get *redis.StringCmd
	if err := withClaim(ctx, s.client, orderID, func(p redis.Pipeliner) { get = p.Get(ctx, paymentKey(orderID)) }); err != nil {
		return payment.Outcome{}, false, err
	}
	data, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return payment.Outcome{}, false, nil
	}
	if err != nil {
		return payment.Outcome{}, false, wrap("get payment of "+orderID, err)
	}
	out, err := decodePayment(orderID, data)
	return out, err == nil, err
}

func decodePayment(orderID string, data []byte) (payment.Outcome, error) {
	var out payment.Outcome
	if err := json.Unmarshal(data, &out); err != nil {
		return payment.Outcome{}, fmt.Errorf("decode payment of %s: %w", orderID, err)
	}
	return out, nil
}
