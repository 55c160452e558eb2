package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/app/lease"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/order"
)

// IdempotencyTTL is how long the answer to an Idempotency-Key is kept.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyLease is how long a request holds its Idempotency-Key before it has
// answered; a request that dies holding it blocks retries that long.
const IdempotencyLease = 10 * time.Second

// ErrKeyInProgress is a request whose Idempotency-Key another request is serving.
var ErrKeyInProgress = errors.New("a request with this Idempotency-Key is in progress")

// ErrKeyReused is a request whose Idempotency-Key came before with a different order.
var ErrKeyReused = errors.New("this Idempotency-Key was used for a different order")

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 255

// PlaceOrderCommand is an order as a customer sends it; the service picks the id, the
// total and the time.
type PlaceOrderCommand struct {
	IdempotencyKey string
	CustomerID     string
	Items          []event.Item
	Currency       string
}

// PlaceOrderResult is the answer to a placed order.
type PlaceOrderResult struct {
	OrderID string
	// Replayed is true when the idempotency key was seen before and no event was sent.
	Replayed bool
	// Unrecorded is why the answer could not be stored under the idempotency key, when
	// it could not; the order is accepted all the same.
	Unrecorded error
}

// PlaceOrder validates an order and publishes order.placed.
type PlaceOrder struct {
	publisher EventPublisher
	keys      lease.Store
	now       Clock
	orderIDs  OrderIDSecret
}

// Handle returns a *domain.RuleError when the order breaks a rule of the entry event.
func (h PlaceOrder) Handle(ctx context.Context, cmd PlaceOrderCommand) (PlaceOrderResult, error) {
	if err := checkIdempotencyKey(cmd.IdempotencyKey); err != nil {
		return PlaceOrderResult{}, err
	}
	lines, err := event.ParseItems(cmd.Items)
	if err != nil {
		return PlaceOrderResult{}, err
	}
	total, err := order.SumLines(lines)
	if err != nil {
		return PlaceOrderResult{}, err
	}
	orderID := "ord-" + uuid.NewString()
	if cmd.IdempotencyKey != "" {
		orderID = h.orderIDFor(cmd.IdempotencyKey)
	}
	placed := event.OrderPlaced{
		OrderID:    orderID,
		CustomerID: cmd.CustomerID,
		Items:      cmd.Items,
		TotalCents: int64(total),
		Currency:   cmd.Currency,
		// Sub-second, so placed→terminal latency is measured from the real instant.
		PlacedAt: h.now().UTC().Format(time.RFC3339Nano),
	}
	if _, err := placed.Validate(); err != nil {
		return PlaceOrderResult{}, err
	}

	if cmd.IdempotencyKey == "" {
		if err := h.publisher.Publish(ctx, placed); err != nil {
			return PlaceOrderResult{}, fmt.Errorf("publish %s: %w", placed.OrderID, err)
		}
		return PlaceOrderResult{OrderID: placed.OrderID}, nil
	}

	// The token and the answer both start with the request's fingerprint, so a repeat
	// with another order is told apart while the first is served and after.
	request := fingerprint(cmd)
	token := request + "/" + uuid.NewString()
	state, held, err := h.keys.Claim(ctx, cmd.IdempotencyKey, token, IdempotencyLease)
	switch {
	case err != nil:
		return PlaceOrderResult{}, fmt.Errorf("claim idempotency key: %w", err)
	case state != lease.Claimed && !strings.HasPrefix(held, request+"/"):
		return PlaceOrderResult{}, ErrKeyReused
	case state == lease.Held:
		return PlaceOrderResult{}, ErrKeyInProgress
	case state == lease.Done:
		return PlaceOrderResult{OrderID: strings.TrimPrefix(held, request+"/"), Replayed: true}, nil
	}
	// The message id derives from the order id, which is keyed by the server's secret:
	// nobody who knows the key can publish a message under that id first.
	if err := h.publisher.Publish(WithIdempotencyKey(ctx, placed.OrderID), placed); err != nil {
		// The key must not promise an order that was never sent.
		if rerr := h.keys.Release(context.WithoutCancel(ctx), cmd.IdempotencyKey, token); rerr != nil {
			err = fmt.Errorf("%w (and release idempotency key: %v)", err, rerr)
		}
		return PlaceOrderResult{}, fmt.Errorf("publish %s: %w", placed.OrderID, err)
	}
	committed, err := h.keys.Commit(context.WithoutCancel(ctx), cmd.IdempotencyKey, token, request+"/"+placed.OrderID, IdempotencyTTL)
	if err == nil && !committed {
		err = errors.New("its lease ended before the answer")
	}
	if err != nil {
		// The order is accepted. Until the claim's lease ends a retry is told to wait;
		// after, it publishes the same event again, which dedup drops.
		return PlaceOrderResult{OrderID: placed.OrderID, Unrecorded: err}, nil
	}
	return PlaceOrderResult{OrderID: placed.OrderID}, nil
}

// orderIDFor names the order of an Idempotency-Key: always the same for a key, so a retry
// after a crash anywhere between claim and answer publishes the same event, which dedup
// then drops; and keyed by the server's secret, so nobody who knows or guesses a key can
// read its order.
func (h PlaceOrder) orderIDFor(key string) string {
	mac := hmac.New(sha256.New, h.orderIDs)
	mac.Write([]byte(key))
	id, _ := uuid.FromBytes(mac.Sum(nil)[:16])
	// Mark it as a version 4, variant RFC 4122 UUID, as random ids are.
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return "ord-" + id.String()
}

// checkIdempotencyKey allows no key, or 1 to MaxIdempotencyKeyLen printable ASCII
// characters.
func checkIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKeyLen {
		return domain.Rulef("Idempotency-Key must be at most %d characters, got %d", MaxIdempotencyKeyLen, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return domain.Rulef("Idempotency-Key must be printable ASCII; byte %d is 0x%02x", i, key[i])
		}
	}
	return nil
}

// fingerprint names what a request asks for, whatever its JSON spacing or key order.
func fingerprint(cmd PlaceOrderCommand) string {
	data, _ := json.Marshal(struct {
		CustomerID string       `json:"c"`
		Items      []event.Item `json:"i"`
		Currency   string       `json:"u"`
	}{cmd.CustomerID, cmd.Items, cmd.Currency})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}
