package tests

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The latency tail of BenchmarkSagaAMQP, explained as it is measured: which hop the
// slowest orders waited in, whether they waited through one pause together, where in
// the worker the slowest one spent its time (its spans), and whether this process,
// Redis or RabbitMQ paused meanwhile (probes).

// slowest is what openLoop measured, for logSlowest.
type slowest struct {
	due                           map[string]time.Time // order id: when it was due
	start                         time.Time
	messageIDs                    map[string]string // order id: id of its order.placed message
	reserved, captured, confirmed *counter
	spans                         *tailSpans
}

// tail describes the n slowest orders on one line (a benchmark keeps 10 lines of log):
// the slowest hop by hop and its spans, and when the others were due relative to it.
// Orders due one after the other whose wait shrinks by the gap between them waited
// through one pause; orders slow on their own (a retry) would be spread out.
func tail(s slowest, n int) string {
	s.confirmed.mu.Lock()
	defer s.confirmed.mu.Unlock()
	s.reserved.mu.Lock()
	defer s.reserved.mu.Unlock()
	s.captured.mu.Lock()
	defer s.captured.mu.Unlock()
	ids := make([]string, 0, len(s.due))
	for id := range s.due {
		ids = append(ids, id)
	}
	total := func(id string) time.Duration { return s.confirmed.seen[id].Sub(s.due[id]) }
	sort.Slice(ids, func(i, j int) bool { return total(ids[i]) > total(ids[j]) })
	if len(ids) == 0 {
		return "no orders"
	}
	first := ids[0]
	at := s.due[first]
	var b strings.Builder
	fmt.Fprintf(&b, "slowest %s ms, due +%s ms (placed→reserved %s, →captured %s, →confirmed %s; spans: %s); next slowest",
		ms(total(first)), ms(at.Sub(s.start)),
		ms(s.reserved.seen[first].Sub(at)), ms(s.captured.seen[first].Sub(s.reserved.seen[first])), ms(s.confirmed.seen[first].Sub(s.captured.seen[first])),
		s.spans.explain(s.messageIDs[first], at))
	for _, id := range ids[1:min(n, len(ids))] {
		fmt.Fprintf(&b, " %s ms due %+.0f ms", ms(total(id)), float64(s.due[id].Sub(at))/float64(time.Millisecond))
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// tailSpans records the worker's spans while record(true): during the latency runs,
// not while the saturation run measures throughput.
type tailSpans struct {
	recorder *tracetest.SpanRecorder
	provider *sdktrace.TracerProvider
	on       atomic.Bool
}

func newTailSpans() *tailSpans {
	t := &tailSpans{recorder: tracetest.NewSpanRecorder()}
	t.provider = sdktrace.NewTracerProvider(sdktrace.WithSampler(toggle{&t.on}), sdktrace.WithSpanProcessor(t.recorder))
	return t
}

func (t *tailSpans) record(on bool) { t.on.Store(on) }

type toggle struct{ on *atomic.Bool }

func (s toggle) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if s.on.Load() {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop}
}

func (toggle) Description() string { return "on while a latency run goes" }

// explain returns the spans of the order whose order.placed message is messageID, as
// inventory-reserve's trace holds them: when each handler began after the order was
// due, how long it took, and how long its publish waited for the broker's confirm.
func (t *tailSpans) explain(messageID string, due time.Time) string {
	spans := t.recorder.Ended()
	attr := func(sp sdktrace.ReadOnlySpan, key string) string {
		for _, a := range sp.Attributes() {
			if string(a.Key) == key {
				return a.Value.AsString()
			}
		}
		return ""
	}
	var id trace.TraceID
	for _, sp := range spans {
		if sp.Name() == "process order.placed" && attr(sp, "messaging.message.id") == messageID && attr(sp, "messaging.consumer.group.name") == "inventory-reserve" {
			id = sp.SpanContext().TraceID()
		}
	}
	var parts []string
	for _, sp := range spans {
		if !id.IsValid() || sp.SpanContext().TraceID() != id {
			continue
		}
		if group := attr(sp, "messaging.consumer.group.name"); group != "" {
			parts = append(parts, fmt.Sprintf("%s at +%s took %s", group, ms(sp.StartTime().Sub(due)), ms(sp.EndTime().Sub(sp.StartTime()))))
		} else {
			parts = append(parts, fmt.Sprintf("%s confirmed after %s", sp.Name(), ms(sp.EndTime().Sub(sp.StartTime()))))
		}
	}
	if len(parts) == 0 {
		return "none recorded"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// stallProbes watch, while a latency run goes on, for pauses that every order would wait
// through: of this process's goroutines (a 1 ms sleep that wakes late), of Redis (PING)
// and of RabbitMQ (a persistent message through a queue of its own, confirmed and
// consumed). Each keeps its worst round trip; the RabbitMQ probe runs every 20 ms, so
// that it adds a few percent to the broker's load, the others more often.
type stallProbes struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	worst map[string]time.Duration
}

func startStallProbes(b *testing.B, redisURL string, conn *amqp.Connection) *stallProbes {
	b.Helper()
	p := &stallProbes{stop: make(chan struct{}), worst: map[string]time.Duration{}}
	opts, err := redis.ParseURL(redisURL)
	require.NoError(b, err)
	rdb := redis.NewClient(opts)
	ch, err := conn.Channel()
	require.NoError(b, err)
	require.NoError(b, ch.Confirm(false))
	q, err := ch.QueueDeclare("", true, true, true, false, nil)
	require.NoError(b, err)
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	require.NoError(b, err)
	ctx := context.Background()
	every := map[string]time.Duration{"process": 2 * time.Millisecond, "redis": 5 * time.Millisecond, "rabbitmq": 20 * time.Millisecond}
	probes := map[string]func() error{
		"process": func() error { time.Sleep(time.Millisecond); return nil },
		"redis":   func() error { return rdb.Ping(ctx).Err() },
		"rabbitmq": func() error {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.Name, false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("probe")})
			if err != nil {
				return err
			}
			if _, err := dc.WaitContext(ctx); err != nil {
				return err
			}
			<-deliveries
			return nil
		},
	}
	for name, probe := range probes {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			tick := time.NewTicker(every[name])
			defer tick.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-tick.C:
				}
				start := time.Now()
				if err := probe(); err != nil {
					return
				}
				took := time.Since(start)
				p.mu.Lock()
				p.worst[name] = max(p.worst[name], took)
				p.mu.Unlock()
			}
		}()
	}
	b.Cleanup(func() { _ = rdb.Close(); _ = ch.Close() })
	return p
}

// end stops the probes and returns the worst pause each saw.
func (p *stallProbes) end() string {
	close(p.stop)
	p.wg.Wait()
	var parts []string
	for _, name := range []string{"process", "redis", "rabbitmq"} {
		parts = append(parts, fmt.Sprintf("%s %s ms", name, ms(p.worst[name])))
	}
	return "worst probe round trips: " + strings.Join(parts, ", ")
}
