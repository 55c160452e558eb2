package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain/notification"
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

// recordNotificationScript stores a notification once and indexes it by time sent; both
// keys are in the customer's hash slot. It returns the stored notification.
var recordNotificationScript = redis.NewScript(`
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return ARGV[1]`)

// Notifications keeps notifications per customer.
type Notifications struct {
	client redis.UniversalClient
}

func notificationKey(customerID, orderID string) string {
	return "orderflow:notification:{" + customerID + "}:" + orderID
}

func notificationIndex(customerID string) string {
	return "orderflow:notifications:{" + customerID + "}"
}

// Record implements notification.Repository.
func (s *Notifications) Record(ctx context.Context, n notification.Notification) (notification.Notification, error) {
	data, err := json.Marshal(n)
	if err != nil {
		return notification.Notification{}, fmt.Errorf("encode notification of %s: %w", n.OrderID, err)
	}
	raw, err := recordNotificationScript.Run(ctx, s.client,
		[]string{notificationKey(n.CustomerID, n.OrderID), notificationIndex(n.CustomerID)},
		data, n.SentAt.UnixMicro(), n.OrderID).Text()
	if err != nil {
		return notification.Notification{}, wrap("record notification of "+n.OrderID, err)
	}
	var stored notification.Notification
	if err := json.Unmarshal([]byte(raw), &stored); err != nil {
		return notification.Notification{}, fmt.Errorf("decode notification of %s: %w", n.OrderID, err)
	}
	return stored, nil
}

// ForCustomer implements notification.Repository.
func (s *Notifications) ForCustomer(ctx context.Context, customerID string) ([]notification.Notification, error) {
	orderIDs, err := s.client.ZRange(ctx, notificationIndex(customerID), 0, -1).Result()
	if err != nil {
		return nil, wrap("list notifications of "+customerID, err)
	}
	list := make([]notification.Notification, 0, len(orderIDs))
	if len(orderIDs) == 0 {
		return list, nil
	}
	keys := make([]string, len(orderIDs))
	for i, id := range orderIDs {
		keys[i] = notificationKey(customerID, id)
	}
	values, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrap("read notifications of "+customerID, err)
	}
	for i, v := range values {
		raw, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("notification %s of %s is missing", orderIDs[i], customerID)
		}
		var n notification.Notification
		if err := json.Unmarshal([]byte(raw), &n); err != nil {
			return nil, fmt.Errorf("decode notification %s: %w", orderIDs[i], err)
		}
		list = append(list, n)
	}
	return list, nil
}

// IdempotencyKeys keeps the answers to Idempotency-Key headers.
type IdempotencyKeys struct {
	client redis.UniversalClient
}

func idempotencyKey(key string) string { return "orderflow:idempotency:{" + key + "}" }

// pendingMark is the value of a key whose request has not answered yet; answers are
// order ids, which never equal it.
const pendingMark = "\x00pending"

// beginScript claims a key, or returns what it holds: one round trip.
var beginScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])`)

// Begin implements app.IdempotencyKeys.
func (s *IdempotencyKeys) Begin(ctx context.Context, key string, lease time.Duration) (app.KeyState, string, error) {
	held, err := beginScript.Run(ctx, s.client, []string{idempotencyKey(key)}, pendingMark, lease.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return app.KeyClaimed, "", nil
	case err != nil:
		return 0, "", wrap("claim idempotency key", err)
	case held == pendingMark:
		return app.KeyPending, "", nil
	}
	return app.KeyDone, held, nil
}

// Complete implements app.IdempotencyKeys.
func (s *IdempotencyKeys) Complete(ctx context.Context, key, answer string, ttl time.Duration) error {
	if err := s.client.Set(ctx, idempotencyKey(key), answer, ttl).Err(); err != nil {
		return wrap("complete idempotency key", err)
	}
	return nil
}

// Forget implements app.IdempotencyKeys.
func (s *IdempotencyKeys) Forget(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, idempotencyKey(key)).Err(); err != nil {
		return wrap("forget idempotency key", err)
	}
	return nil
}
