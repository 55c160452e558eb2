package amqpbroker

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/app/envelope"
)

// Limits cap what a consumed delivery may carry before a handler sees it (README,
// "RabbitMQ"): the broker is shared, and one producer's 32 MiB body or 10,000 headers
// must not cost every handler that memory. A zero field caps nothing.
type Limits struct {
	// MaxBodyBytes is the largest body (amqp.max_body_bytes).
	MaxBodyBytes int
	// MaxHeaders is the most headers (amqp.max_headers).
	MaxHeaders int
	// MaxHeaderBytes caps the names and values of all headers together
	// (amqp.max_header_bytes), counted as in tableSize.
	MaxHeaderBytes int
}

// The room that the headers kept from a rejected delivery leave for Orderflow's own (the
// poison metadata, and replay_handler and replay_id when it is replayed), so that its
// poisoned copy and its replay fit the limits themselves.
const (
	// ownHeaders is what configs requires amqp.max_headers to leave: Orderflow sets up
	// to 16 headers.
	ownHeaders = 16
	// ownHeaderBytes is ample for those headers: ids, a reason that names a limit.
	ownHeaderBytes = 1024
)

// check returns why d is over the limits, naming each limit it breaks, or "".
func (l Limits) check(d amqp.Delivery) string {
	var broken []string
	if l.MaxBodyBytes > 0 && len(d.Body) > l.MaxBodyBytes {
		broken = append(broken, fmt.Sprintf("body of %d bytes is over amqp.max_body_bytes (%d)", len(d.Body), l.MaxBodyBytes))
	}
	if l.MaxHeaders > 0 && len(d.Headers) > l.MaxHeaders {
		broken = append(broken, fmt.Sprintf("%d headers are over amqp.max_headers (%d)", len(d.Headers), l.MaxHeaders))
	}
	if l.MaxHeaderBytes > 0 {
		if n := tableSize(d.Headers); n > l.MaxHeaderBytes {
			broken = append(broken, fmt.Sprintf("headers of %d bytes are over amqp.max_header_bytes (%d)", n, l.MaxHeaderBytes))
		}
	}
	return strings.Join(broken, "; ")
}

// keptBody is what the poisoned copy of a rejected delivery keeps of body: all of it
// when it is within the limit, else its first MaxBodyBytes, copied, so that the rest is
// not held by the copy.
func (l Limits) keptBody(body []byte) []byte {
	if l.MaxBodyBytes <= 0 || len(body) <= l.MaxBodyBytes {
		return body
	}
	return bytes.Clone(body[:l.MaxBodyBytes])
}

// keepHeaders sets on md the string headers of a rejected delivery that fit the limits
// with room for Orderflow's own, in name order, so the same ones are kept on every
// redelivery. A header too large to fit is skipped, not cut.
func (l Limits) keepHeaders(md message.Metadata, headers amqp.Table) {
	maxCount, maxBytes := math.MaxInt, math.MaxInt
	if l.MaxHeaders > 0 {
		maxCount = max(l.MaxHeaders-ownHeaders, 0)
	}
	if l.MaxHeaderBytes > 0 {
		maxBytes = max(l.MaxHeaderBytes-ownHeaderBytes, 0)
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		if k != wamqp.DefaultMessageUUIDHeaderKey && k != envelope.RejectedKey && k != envelope.RedeliveredKey {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	count, size := 0, 0
	for _, k := range names {
		if count >= maxCount {
			return
		}
		s, ok := headerString(headers[k])
		if !ok || size+len(k)+len(s) > maxBytes {
			continue
		}
		md.Set(k, s)
		count++
		size += len(k) + len(s)
	}
}

// tableSize is the size of the names and values of a header table as they travel,
// without AMQP's type tags and length prefixes: strings and bytes by their length,
// numbers by their width, nested tables and arrays by what they hold.
func tableSize(t amqp.Table) int {
	n := 0
	for k, v := range t {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return len(x)
	case amqp.Table:
		return tableSize(x)
	case []any:
		n := 0
		for _, e := range x {
			n += valueSize(e)
		}
		return n
	case bool, int8, uint8:
		return 1
	case int16, uint16:
		return 2
	case int32, uint32, float32:
		return 4
	case amqp.Decimal:
		return 5
	case int, int64, uint64, float64, time.Time:
		return 8
	}
	return 0
}
