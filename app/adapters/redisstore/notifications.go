package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/domain/notification"
)

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
