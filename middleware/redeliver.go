package middleware

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/envelope"
)

// Delayer parks a message and delivers it to queue again after delay, without holding a
// consumer while it waits.
type Delayer interface {
	Delay(queue string, delay time.Duration, msg *message.Message) error
}

// Redeliver gives a message that failed transiently after its in-process retries a
// second chance later: it parks a copy with the next of Delays and acks the original.
// After the last delay the error goes on (to Poison). A dependency that is down, or a
// duplicate in flight, is parked on the first delay for as long as it takes, never
// poisoned. Permanent errors pass straight through.
type Redeliver struct {
	Delayer Delayer
	// Delays are the tiers, shortest first, e.g. 1s, 10s, 60s.
	Delays []time.Duration
	// Queue names the queue of a handler.
	Queue  func(handler string) string
	Logger *slog.Logger
}

// Middleware returns the redelivery middleware.
func (r Redeliver) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		produced, err := h(msg)
		if err == nil {
			return produced, nil
		}
		kind := KindOf(err)
		if kind == Permanent || kind == Cancelled {
			return produced, err
		}
		redeliveries := metadataInt(msg, envelope.RedeliveriesKey)
		attempts := metadataInt(msg, envelope.AttemptsBeforeKey) + AttemptsOf(err)
		waiting := kind == Waiting
		if redeliveries >= len(r.Delays) && !waiting {
			return produced, &AttemptsError{Attempts: attempts, Err: err}
		}
		tier, next := redeliveries, redeliveries+1
		if waiting {
			tier, next = 0, redeliveries
		}
		handler := message.HandlerNameFromCtx(msg.Context())
		parked := msg.Copy()
		parked.Metadata.Set(envelope.RedeliveriesKey, strconv.Itoa(next))
		parked.Metadata.Set(envelope.AttemptsBeforeKey, strconv.Itoa(attempts))
		delay := r.Delays[min(tier, len(r.Delays)-1)]
		if perr := r.Delayer.Delay(r.Queue(handler), delay, parked); perr != nil {
			// Not parked: hand the message back to the broker instead.
			return produced, errors.Join(err, perr)
		}
		LoggerFrom(msg.Context(), r.Logger).WarnContext(msg.Context(), "message redelivery scheduled",
			"delay", delay.String(), "redeliveries", next, "attempts", attempts, "error", err.Error())
		report(msg.Context(), OutcomeParked)
		return nil, nil
	}
}

func metadataInt(msg *message.Message, key string) int {
	n, _ := strconv.Atoi(msg.Metadata.Get(key))
	return max(n, 0)
}
