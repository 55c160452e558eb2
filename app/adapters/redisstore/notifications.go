package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/domain/notification"
)

// recordNotificationScript stores a notification once and indexes it by time sent; both
// keys are in the customer's hash slot, and so is the message's mark, which it claims
// first and commits with the record (app/inbox): a notification costs one round trip,
// dedup included. It returns {0, what the mark holds} when the mark was not free, else
// {1, the stored notification, committed}.
var recordNotificationScript = redis.NewScript(markLua + `
local found = claim_mark()
if found then return {0, found} end
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  held = ARGV[1]
end
return {1, held, commit_mark()}`)

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
	plan := planMark(ctx, n.CustomerID, true)
	cmd, q := plan.run(ctx, s.client, recordNotificationScript,
		[]string{notificationKey(n.CustomerID, n.OrderID), notificationIndex(n.CustomerID)},
		data, n.SentAt.UnixMicro(), n.OrderID)
	res, err := cmd.Slice()
	if err != nil || len(res) < 2 {
		return notification.Notification{}, wrap("record notification of "+n.OrderID, errors.Join(err, errReply(res)))
	}
	if err := plan.doneWith(ctx, s.client, q, res, 0); err != nil {
		return notification.Notification{}, err
	}
	raw, _ := res[1].(string)
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
