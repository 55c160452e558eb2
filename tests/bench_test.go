package tests

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// Every benchmark here runs a fixed workload once per b.N (run them with -benchtime 1x)
// and reports what it measured with b.ReportMetric; `make bench` runs them all in three
// passes and reports the medians (tests/benchreport).

// benchConfig is the test configuration without the payment-capture throttle, which
// would otherwise be what every throughput figure measures, and with ample stock.
func benchConfig() *configs.Config {
	cfg := TestConfig()
	delete(cfg.Handlers, handlers.PaymentCapture)
	cfg.Inventory.Seed = map[string]int64{"SKU-BENCH": 1 << 40}
	return cfg
}

// benchWorkerYAML is benchConfig for worker processes.
const benchWorkerYAML = `inventory:
  seed: {SKU-BENCH: 1000000000}
handlers:
  payment-capture:
    throttle: {per_second: 0, burst: 1}
`

// withChain returns the handler table with every chain replaced.
func withChain(chain handlers.Chain) []handlers.Definition {
	table := handlers.Table()
	for i := range table {
		table[i].Chain = chain
	}
	return table
}

// BenchmarkSagaEmbedded: orders/s from order.placed to notification.sent through every
// handler on GoChannel and memory stores, with the full chains and with the least a
// chain may be: the signature check alone.
func BenchmarkSagaEmbedded(b *testing.B) {
	for _, c := range []struct {
		name  string
		chain handlers.Chain
	}{{"full", handlers.Standard}, {"bare", handlers.Chain{handlers.StageVerify}}} {
		b.Run(c.name, func(b *testing.B) {
			orders := sized(1000, 4000)
			for range b.N {
				w := Start(b, benchConfig(), withChain(c.chain))
				done := countFrom(w.Tap.Subscribe(b, event.NotificationSentName), nil)
				cpuStart := cpuSeconds("/proc/self/stat")
				start := time.Now()
				for i := range orders {
					w.Tap.Publish(b, event.OrderPlacedName, benchOrder(b, i))
				}
				done.wait(b, orders, 2*time.Minute)
				elapsed := time.Since(start)
				b.ReportMetric(float64(orders)/elapsed.Seconds(), "orders/s")
				// five handlers run per confirmed order: inventory-reserve and fraud-screen
				// on order.placed, payment-capture, order-confirm, notification-send
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(5*orders), "ns/msg")
				// The same cost in CPU, which wall time on two shared cores only
				// approximates (10 ms ticks: under 1% of a full run's 1.2 s of CPU).
				b.ReportMetric((cpuSeconds("/proc/self/stat")-cpuStart)*1e6/float64(5*orders), "cpu-us/msg")
			}
		})
	}
}

// BenchmarkSagaAMQP: orders/s at saturation on RabbitMQ and Redis, then the latency from
// order.placed to order.confirmed at 25%, 50% and 75% of that rate, with orders arriving
// on a fixed schedule (open loop: a late order is timed from when it was due).
func BenchmarkSagaAMQP(b *testing.B) {
	for range b.N {
		cfg := AMQPConfig(b, benchConfig())
		spans := newTailSpans()
		w := StartAMQPWith(b, cfg, handlers.Table(), Options{Tracer: spans.provider})
		tap := amqpTapOf(w.Tap)
		conn, err := amqp.Dial(tap.url)
		require.NoError(b, err)
		defer conn.Close()
		orders := sized(1500, 6000)
		done := countFrom(w.Tap.Subscribe(b, event.NotificationSentName), nil)
		pub := newRawPublisher(b, conn, 256)
		cpu := newCPUMeter()
		start := time.Now()
		pub.publishAll(b, amqpbroker.Exchange, orders, func(int) string { return event.OrderPlacedName },
			func(i int) amqp.Publishing { return marshalled(b, benchOrder(b, i)) })
		done.wait(b, orders, 5*time.Minute)
		rate := float64(orders) / time.Since(start).Seconds()
		b.ReportMetric(rate, "orders/s")
		cpu.Report(b, float64(orders), "order")

		next := orders
		for _, load := range []int{25, 50, 75} {
			probes := startStallProbes(b, cfg.Redis.URL, conn)
			spans.record(true)
			p50, p95, p99, slow := openLoop(b, w, conn, rate*float64(load)/100, time.Duration(sized(2, 10))*time.Second, &next, spans)
			spans.record(false)
			b.Logf("tail at %d%%: %s; %s", load, tail(slow, 5), probes.end())
			b.ReportMetric(p50, fmt.Sprintf("p50-ms@%d%%", load))
			b.ReportMetric(p95, fmt.Sprintf("p95-ms@%d%%", load))
			b.ReportMetric(p99, fmt.Sprintf("p99-ms@%d%%", load))
		}
	}
}

// openLoop publishes orders at rate per second for d and returns the p50, p95 and p99 of
// their latency to order.confirmed, in ms, and what tail needs to explain the slowest.
func openLoop(b *testing.B, w *TestWorker, conn *amqp.Connection, rate float64, d time.Duration, next *int, spans *tailSpans) (p50, p95, p99 float64, slow slowest) {
	b.Helper()
	confirmed := countFrom(w.Tap.Subscribe(b, event.OrderConfirmedName), orderIDOf)
	reserved := countFrom(w.Tap.Subscribe(b, event.InventoryReservedName), orderIDOf)
	captured := countFrom(w.Tap.Subscribe(b, event.PaymentCapturedName), orderIDOf)
	ch, err := conn.Channel()
	require.NoError(b, err)
	defer ch.Close()
	require.NoError(b, ch.Confirm(false))
	n := int(rate * d.Seconds())
	due := make(map[string]time.Time, n)
	messageIDs := make(map[string]string, n)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	var confirms []*amqp.DeferredConfirmation
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		msg := benchOrder(b, *next)
		*next++
		due[orderIDOf(msg)] = at
		messageIDs[orderIDOf(msg)] = msg.UUID
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), amqpbroker.Exchange, event.OrderPlacedName, false, false, marshalled(b, msg))
		require.NoError(b, err)
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		_, err := dc.WaitContext(context.Background())
		require.NoError(b, err)
	}
	confirmed.wait(b, n, 2*time.Minute)
	confirmed.mu.Lock()
	defer confirmed.mu.Unlock()
	latencies := make([]time.Duration, 0, n)
	for id, at := range due {
		latencies = append(latencies, confirmed.seen[id].Sub(at))
	}
	sortDurations(latencies)
	slow = slowest{due: due, start: start, messageIDs: messageIDs, reserved: reserved, captured: captured, confirmed: confirmed, spans: spans}
	return percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99), slow
}

// BenchmarkBrokerCeiling: what RabbitMQ allows a saga here, measured with raw amqp091-go
// doing the broker work that Orderflow does per order, with the same consumers and
// prefetch: order.placed published to the topic exchange and routed to two durable
// queues (inventory-reserve and fraud-screen); each handler's stage consumes, publishes
// the next event with a confirm (fraud-screen's only acks: the bench orders it flags, one
// in six of the full run's, go to no queue), then acks; and the test's tap consumes
// notification.sent from a queue of its own (the same Tap as BenchmarkSagaAMQP's), which
// counts.
func BenchmarkBrokerCeiling(b *testing.B) {
	for range b.N {
		url := AMQPURL(b)
		conn, err := amqp.Dial(url)
		require.NoError(b, err)
		defer conn.Close()
		setup, err := conn.Channel()
		require.NoError(b, err)
		require.NoError(b, setup.ExchangeDeclare(amqpbroker.Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
		stages := []rawStage{
			{queue: "orderflow." + handlers.InventoryReserve, consumes: event.OrderPlacedName, publishes: event.InventoryReservedName},
			{queue: "orderflow." + handlers.FraudScreen, consumes: event.OrderPlacedName},
			{queue: "orderflow." + handlers.PaymentCapture, consumes: event.InventoryReservedName, publishes: event.PaymentCapturedName},
			{queue: "orderflow." + handlers.OrderConfirm, consumes: event.PaymentCapturedName, publishes: event.OrderConfirmedName},
			{queue: "orderflow." + handlers.NotificationSend, consumes: event.OrderConfirmedName, publishes: event.NotificationSentName},
		}
		for _, st := range stages {
			_, err := setup.QueueDeclare(st.queue, true, false, false, false, nil)
			require.NoError(b, err)
			require.NoError(b, setup.QueueBind(st.queue, st.consumes, amqpbroker.Exchange, false, nil))
		}
		orders := sized(1500, 6000)
		body := marshalled(b, benchOrder(b, 0))
		cfg := benchConfig()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for _, st := range stages {
			for range cfg.HandlerDefaults.Consumers {
				go st.run(ctx, conn, cfg.AMQP.Prefetch)
			}
		}
		tapped := (&amqpTap{url: url, conn: conn}).Subscribe(b, event.NotificationSentName)
		cpu := newCPUMeter()
		start := time.Now()
		newRawPublisher(b, conn, 256).publishAll(b, amqpbroker.Exchange, orders, func(int) string { return event.OrderPlacedName }, func(int) amqp.Publishing { return body })
		for range orders {
			select {
			case <-tapped:
			case <-time.After(time.Minute):
				b.Fatal("the raw stages stalled")
			}
		}
		b.ReportMetric(float64(orders)/time.Since(start).Seconds(), "orders/s")
		cpu.Report(b, float64(orders), "order")
	}
}

// rawStage is one handler's work on the broker: consume from queue, publish the
// delivery's body as the event it publishes (none when empty) with a confirm, then ack.
type rawStage struct {
	queue, consumes, publishes string
}

func (st rawStage) run(ctx context.Context, conn *amqp.Connection, prefetch int) {
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	defer ch.Close()
	_ = ch.Qos(prefetch, 0, false)
	_ = ch.Confirm(false)
	deliveries, err := ch.Consume(st.queue, "", false, false, false, false, nil)
	if err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			if st.publishes != "" {
				dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, amqpbroker.Exchange, st.publishes, false, false,
					amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Headers: d.Headers, Body: d.Body})
				if err != nil {
					return
				}
				if _, err := dc.WaitContext(ctx); err != nil {
					return
				}
			}
			_ = d.Ack(false)
		}
	}
}

// BenchmarkPublish: persistent 1 KiB messages with publisher confirms, msgs/s: Orderflow's
// publisher from 256 goroutines, and raw amqp091-go on one channel with 256 confirms in
// flight.
func BenchmarkPublish(b *testing.B) {
	n := sized(10000, 40000)
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = 'x'
	}
	b.Run("orderflow", func(b *testing.B) {
		for range b.N {
			cfg := AMQPConfig(b, nil)
			transport, closeTransport, err := worker.NewAMQPTransport(cfg, Logger())
			require.NoError(b, err)
			defer closeTransport()
			const goroutines = 256 // as many confirms in flight as the raw publisher keeps
			start := time.Now()
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < n; i += goroutines {
						msg := message.NewMessage(strconv.Itoa(i), payload)
						if err := transport.Publisher.Publish("bench.publish", msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		}
	})
	b.Run("raw", func(b *testing.B) {
		for range b.N {
			conn, err := amqp.Dial(AMQPURL(b))
			require.NoError(b, err)
			defer conn.Close()
			setup, err := conn.Channel()
			require.NoError(b, err)
			require.NoError(b, setup.ExchangeDeclare(amqpbroker.Exchange, "topic", true, false, false, false, nil))
			start := time.Now()
			newRawPublisher(b, conn, 256).publishAll(b, amqpbroker.Exchange, n, func(int) string { return "bench.publish" },
				func(int) amqp.Publishing {
					return amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: payload}
				})
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		}
	})
}

// BenchmarkDedup: the cost of claim + commit on a real Redis, one message after the
// other; and the embedded saga on Redis stores with dedup and without it.
func BenchmarkDedup(b *testing.B) {
	b.Run("claim-commit", func(b *testing.B) {
		for range b.N {
			client := RedisClient(b)
			trips := &roundTrips{}
			client.AddHook(trips)
			claims := redisDedup(client)
			ctx := context.Background()
			n := sized(2000, 10000)
			_, _, _ = claims.Claim(ctx, "warm", "t", time.Minute) // loads the scripts
			_, _ = claims.Commit(ctx, "warm", "t", "", time.Minute)
			trips.n.Store(0)
			start := time.Now()
			for i := range n {
				key := "bench:" + strconv.Itoa(i)
				if _, _, err := claims.Claim(ctx, key, "t", time.Minute); err != nil {
					b.Fatal(err)
				}
				if _, err := claims.Commit(ctx, key, "t", "", time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "us/msg")
			b.ReportMetric(float64(trips.n.Load())/float64(n), "round-trips/msg")
		}
	})
	without := handlers.Standard.Without(handlers.StageDedup)
	for _, c := range []struct {
		name  string
		chain handlers.Chain
	}{{"saga-on", handlers.Standard}, {"saga-off", without}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				broker, closeBroker := worker.NewInprocBroker(Logger())
				b.Cleanup(closeBroker) // after the worker's own cleanup
				w := StartOn(b, benchConfig(), withChain(c.chain), broker, worker.NewInprocTransport(broker), worker.RedisStorage(RedisClient(b)))
				orders := sized(1000, 4000)
				require.NoError(b, w.Storage.Stores.Inventory.SetAvailable(context.Background(), "SKU-BENCH", 1<<40))
				done := countFrom(w.Tap.Subscribe(b, event.NotificationSentName), nil)
				start := time.Now()
				for i := range orders {
					w.Tap.Publish(b, event.OrderPlacedName, benchOrder(b, i))
				}
				done.wait(b, orders, 2*time.Minute)
				b.ReportMetric(float64(orders)/time.Since(start).Seconds(), "orders/s")
			}
		})
	}
}

// BenchmarkScaleOut: orders/s with the payment provider at 10 ms a charge, with 1, 2 and
// 4 consumers per handler in one worker, and with 1 and 2 worker processes of one
// consumer each.
func BenchmarkScaleOut(b *testing.B) {
	orders := sized(100, 1000)
	for _, consumers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("consumers-%d", consumers), func(b *testing.B) {
			for range b.N {
				cfg := benchConfig()
				cfg.Payment.Latency = 10 * time.Millisecond
				cfg.HandlerDefaults.Consumers = consumers
				w := StartAMQP(b, cfg, handlers.Table())
				b.ReportMetric(drive(b, amqpTapOf(w.Tap).url, w.Tap, orders), "orders/s")
			}
		})
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers-%d", workers), func(b *testing.B) {
			for range b.N {
				url := AMQPURL(b)
				config := writeWorkerConfig(b, url, RedisURL(b), "", benchWorkerYAML+"payment:\n  latency: 10ms\nhandler_defaults:\n  consumers: 1\n")
				for range workers {
					StartBinary(b, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG="+config)
				}
				b.ReportMetric(drive(b, url, newAMQPTap(b, url), orders), "orders/s")
			}
		})
	}
}

// drive publishes orders to the broker at url and returns orders/s until every one was
// notified.
func drive(b *testing.B, url string, listener transport, orders int) float64 {
	b.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(b, err)
	defer conn.Close()
	done := countFrom(listener.Subscribe(b, event.NotificationSentName), nil)
	start := time.Now()
	newRawPublisher(b, conn, 256).publishAll(b, amqpbroker.Exchange, orders, func(int) string { return event.OrderPlacedName },
		func(i int) amqp.Publishing { return marshalled(b, benchOrder(b, i)) })
	done.wait(b, orders, 5*time.Minute)
	return float64(orders) / time.Since(start).Seconds()
}

// BenchmarkBackpressure: orders published while no worker runs, then one worker process
// started: its drain rate, and its resident memory while it drains (peak, sampled).
func BenchmarkBackpressure(b *testing.B) {
	for range b.N {
		url := AMQPURL(b)
		config := writeWorkerConfig(b, url, RedisURL(b), "", benchWorkerYAML)
		// A first worker declares the topology, then leaves.
		first := StartBinary(b, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG="+config)
		require.NoError(b, first.Cmd.Process.Signal(os.Interrupt))
		require.NoError(b, first.Wait(b, 30*time.Second))

		orders := sized(5000, 100000)
		conn, err := amqp.Dial(url)
		require.NoError(b, err)
		defer conn.Close()
		tap := newAMQPTap(b, url)
		done := countFrom(tap.Subscribe(b, event.NotificationSentName), nil)
		newRawPublisher(b, conn, 256).publishAll(b, amqpbroker.Exchange, orders, func(int) string { return event.OrderPlacedName },
			func(i int) amqp.Publishing { return marshalled(b, benchOrder(b, i)) })

		start := time.Now()
		w := StartBinary(b, "ORDERFLOW_HTTP_ADDR=127.0.0.1:0", "ORDERFLOW_CONFIG="+config)
		var samples []rssSample
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				samples = append(samples, rssSample{Seconds: time.Since(start).Seconds(), MB: rssMB(w.Cmd.Process.Pid, "VmRSS")})
				select {
				case <-stop:
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
		}()
		done.wait(b, orders, 30*time.Minute)
		elapsed := time.Since(start)
		peak := rssMB(w.Cmd.Process.Pid, "VmHWM")
		close(stop)
		<-sampled
		b.ReportMetric(float64(orders)/elapsed.Seconds(), "orders/s")
		b.ReportMetric(peak, "peak-rss-MB")
		b.ReportMetric(float64(orders), "backlog")
		writeSeries(b, "backpressure-rss", samples)
	}
}

type rssSample struct {
	Seconds float64 `json:"seconds"`
	MB      float64 `json:"mb"`
}

// rssMB reads a memory figure of a process (VmRSS: now; VmHWM: peak) in MB.
func rssMB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}
