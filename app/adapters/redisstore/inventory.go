package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain/inventory"
)

const (
	availableKey      = "orderflow:{inventory}:available"
	reservedKey       = "orderflow:{inventory}:reserved"
	reservationPrefix = "orderflow:{inventory}:reservation:"
)

// ClosedReservationTTL is how long a committed, released or rejected reservation is kept,
// so that a late duplicate of its order still finds the first outcome.
const ClosedReservationTTL = 7 * 24 * time.Hour

// Every script checks before it writes: Redis does not roll a script back, so one that
// failed halfway (HINCRBY overflowing, say) would leave stock half moved. maxCount is the
// largest count a script will write, the largest integer a Lua number holds exactly.
const maxCount = "9007199254740991"

var (
	// reserveScript reserves every item of an order or none, once per order. ARGV holds
	// SKU, quantity pairs and last the TTL of a rejection. It returns the outcome as JSON.
	reserveScript = redis.NewScript(`
local held = redis.call('HGET', KEYS[3], 'outcome')
if held then return held end
local want, skus = {}, {}
for i = 1, #ARGV - 1, 2 do
  local sku, q = ARGV[i], tonumber(ARGV[i + 1])
  if not want[sku] then want[sku] = 0; table.insert(skus, sku) end
  want[sku] = want[sku] + q
end
for _, sku in ipairs(skus) do
  local available = tonumber(redis.call('HGET', KEYS[1], sku) or '0')
  if available < want[sku] then
    local outcome = cjson.encode({reserved = false, sku = sku, requested = want[sku], available = available})
    redis.call('HSET', KEYS[3], 'state', 'rejected', 'outcome', outcome)
    redis.call('PEXPIRE', KEYS[3], ARGV[#ARGV])
    return outcome
  end
end
for _, sku in ipairs(skus) do
  if tonumber(redis.call('HGET', KEYS[2], sku) or '0') + want[sku] > ` + maxCount + ` then
    return redis.error_reply('reserved count of ' .. sku .. ' would overflow')
  end
end
for _, sku in ipairs(skus) do
  redis.call('HINCRBY', KEYS[1], sku, -want[sku])
  redis.call('HINCRBY', KEYS[2], sku, want[sku])
end
local outcome = cjson.encode({reserved = true})
redis.call('HSET', KEYS[3], 'state', 'held', 'outcome', outcome, 'items', cjson.encode(want))
return outcome`)

	// closeScript ends a held reservation: ARGV[1] '1' gives the items back to available
	// (release), '0' keeps them sold (commit); ARGV[2] is the TTL of the closed record.
	closeScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], 'state') ~= 'held' then return 0 end
local items = cjson.decode(redis.call('HGET', KEYS[3], 'items'))
for sku, q in pairs(items) do
  if tonumber(redis.call('HGET', KEYS[2], sku) or '0') < q then
    return redis.error_reply('reserved count of ' .. sku .. ' is below the reservation')
  end
  if ARGV[1] == '1' and tonumber(redis.call('HGET', KEYS[1], sku) or '0') + q > ` + maxCount + ` then
    return redis.error_reply('available count of ' .. sku .. ' would overflow')
  end
end
for sku, q in pairs(items) do
  redis.call('HINCRBY', KEYS[2], sku, -q)
  if ARGV[1] == '1' then redis.call('HINCRBY', KEYS[1], sku, q) end
end
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[3], 'state', 'released')
else
  redis.call('HSET', KEYS[3], 'state', 'committed')
end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1`)
)

// Inventory keeps stock in two hashes and each order's reservation in its own hash, all
// in the {inventory} hash slot. A message's pending claim (app/inbox) is run before a
// reservation changes, in the order's slot: the mark is never in {inventory}, so that
// marks spread over a cluster.
type Inventory struct {
	client redis.UniversalClient
}

func keys(orderID string) []string {
	return []string{availableKey, reservedKey, reservationPrefix + orderID}
}

// Seed implements inventory.Repository.
func (s *Inventory) Seed(ctx context.Context, stock map[inventory.SKU]int64) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for sku, n := range stock {
			p.HSetNX(ctx, availableKey, string(sku), n)
			p.HSetNX(ctx, reservedKey, string(sku), 0)
		}
		return nil
	})
	if err != nil {
		return wrap("seed inventory", err)
	}
	return nil
}

type outcomeJSON struct {
	Reserved  bool   `json:"reserved"`
	SKU       string `json:"sku"`
	Requested int64  `json:"requested"`
	Available int64  `json:"available"`
}

// Reserve implements inventory.Repository in one Lua script: one round trip.
func (s *Inventory) Reserve(ctx context.Context, orderID string, items []inventory.Item) (inventory.Outcome, error) {
	args := make([]any, 0, 2*len(items)+1)
	for _, it := range items {
		args = append(args, string(it.SKU), int64(it.Quantity))
	}
	args = append(args, ClosedReservationTTL.Milliseconds())
	if err := settleFirst(ctx, s.client, orderID); err != nil {
		return inventory.Outcome{}, err
	}
	inbox.From(ctx).TakeLast() // the mark is never in {inventory}
	raw, err := reserveScript.Run(ctx, s.client, keys(orderID), args...).Text()
	if err != nil {
		return inventory.Outcome{}, wrap("reserve "+orderID, err)
	}
	var out outcomeJSON
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return inventory.Outcome{}, fmt.Errorf("reserve %s: decode outcome %q: %w", orderID, raw, err)
	}
	if out.Reserved {
		return inventory.Outcome{Reserved: true}, nil
	}
	return inventory.Outcome{Shortage: inventory.Shortage{SKU: inventory.SKU(out.SKU), Requested: out.Requested, Available: out.Available}}, nil
}

// Commit implements inventory.Repository.
func (s *Inventory) Commit(ctx context.Context, orderID string) error {
	return s.close(ctx, orderID, false)
}

// Release implements inventory.Repository.
func (s *Inventory) Release(ctx context.Context, orderID string) error {
	return s.close(ctx, orderID, true)
}

func (s *Inventory) close(ctx context.Context, orderID string, giveBack bool) error {
	flag := "0"
	if giveBack {
		flag = "1"
	}
	if err := settleFirst(ctx, s.client, orderID); err != nil {
		return err
	}
	inbox.From(ctx).TakeLast() // the mark is never in {inventory}
	if err := closeScript.Run(ctx, s.client, keys(orderID), flag, ClosedReservationTTL.Milliseconds()).Err(); err != nil {
		return wrap("close reservation of "+orderID, err)
	}
	return nil
}

// Stock implements inventory.Repository.
func (s *Inventory) Stock(ctx context.Context, sku inventory.SKU) (inventory.Stock, error) {
	var available, reserved *redis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		available = p.HGet(ctx, availableKey, string(sku))
		reserved = p.HGet(ctx, reservedKey, string(sku))
		return nil
	})
	if errors.Is(err, redis.Nil) && errors.Is(available.Err(), redis.Nil) {
		return inventory.Stock{}, inventory.ErrUnknownSKU
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return inventory.Stock{}, wrap("stock of "+string(sku), err)
	}
	st := inventory.Stock{SKU: sku}
	if st.Available, err = strconv.ParseInt(available.Val(), 10, 64); err != nil {
		return inventory.Stock{}, fmt.Errorf("stock of %s: available %q: %w", sku, available.Val(), err)
	}
	if reserved.Err() == nil {
		if st.Reserved, err = strconv.ParseInt(reserved.Val(), 10, 64); err != nil {
			return inventory.Stock{}, fmt.Errorf("stock of %s: reserved %q: %w", sku, reserved.Val(), err)
		}
	}
	return st, nil
}

// SetAvailable implements inventory.Repository.
func (s *Inventory) SetAvailable(ctx context.Context, sku inventory.SKU, available int64) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, availableKey, string(sku), available)
		p.HSetNX(ctx, reservedKey, string(sku), 0)
		return nil
	})
	if err != nil {
		return wrap("set stock of "+string(sku), err)
	}
	return nil
}
