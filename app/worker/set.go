package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/adapters/inproc"
	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/adapters/paybreaker"
	"github.com/orderflow/orderflow/app/adapters/paysim"
	"github.com/orderflow/orderflow/app/adapters/redisstore"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/payment"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// Set builds a worker from a Transport, a Storage and a handler table.
var Set = wire.NewSet(
	New,
	NewRouter,
	NewChecks,
	httpapi.New,
	app.New,
	handlers.NewPublisher,
	wire.Bind(new(app.EventPublisher), new(*handlers.Publisher)),
	wire.FieldsOf(new(Storage), "Stores"),
	wire.FieldsOf(new(Transport), "Publisher"),
	ProvidePaymentProvider,
	NewPaySim,
	NewMetricsRegistry,
	middleware.NewMetrics,
	wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)),
	wire.Bind(new(prometheus.Gatherer), new(*prometheus.Registry)),
	ProvideClock,
)

// ConfiguredSet picks the transport and the stores from the
// configuration, and runs every handler of the table.
var ConfiguredSet = wire.NewSet(ProvideTransport, ProvideStorage, handlers.Table)

// InprocSet is the in-process transport, for tests that need to reach into the broker.
var InprocSet = wire.NewSet(NewInprocBroker, NewInprocTransport)

// Storage is the stores, the dedup claims, and how to tell whether they answer.
type Storage struct {
	Stores app.Stores
	Claims middleware.ClaimStore
	Check  func(ctx context.Context) error
}

// ProvideClock returns the wall clock.
func ProvideClock() app.Clock { return time.Now }

// ProvideTransport connects to the broker that cfg names.
func ProvideTransport(cfg *configs.Config, logger *slog.Logger) (Transport, func(), error) {
	switch cfg.Broker {
	case configs.BrokerGoChannel:
		broker, closeBroker := NewInprocBroker(logger)
		return NewInprocTransport(broker), closeBroker, nil
	case configs.BrokerAMQP:
		return NewAMQPTransport(cfg, logger)
	}
	return Transport{}, nil, fmt.Errorf("broker %q is not supported", cfg.Broker)
}

// NewAMQPTransport connects to the RabbitMQ of cfg: one connection to consume and one to
// publish, as RabbitMQ advises (its flow control blocks publishing connections), both
// re-established by watermill-amqp with backoff when lost.
func NewAMQPTransport(cfg *configs.Config, logger *slog.Logger) (Transport, func(), error) {
	wlogger := watermillLogger(logger, true)
	connCfg := wamqp.ConnectionConfig{
		AmqpURI: cfg.AMQP.URL,
		Reconnect: &wamqp.ReconnectConfig{
			BackoffInitialInterval:     200 * time.Millisecond,
			BackoffRandomizationFactor: 0.5,
			BackoffMultiplier:          1.5,
			BackoffMaxInterval:         5 * time.Second,
		},
	}
	where := "broker amqp at " + configs.Redact(cfg.AMQP.URL)
	subConn, err := wamqp.NewConnection(connCfg, wlogger)
	if err != nil {
		return Transport{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	pubConn, err := wamqp.NewConnection(connCfg, wlogger)
	if err != nil {
		_ = subConn.Close()
		return Transport{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	topology := &amqpbroker.Topology{QueueType: cfg.AMQP.QueueType, RetryDelays: cfg.AMQP.RetryDelays}
	sub, err := wamqp.NewSubscriberWithConnection(wamqp.Config{
		Marshaler: amqpbroker.Marshaler{},
		Exchange: wamqp.ExchangeConfig{
			GenerateName: func(string) string { return amqpbroker.Exchange },
			Type:         "topic",
			Durable:      true,
		},
		Queue:           wamqp.QueueConfig{GenerateName: wamqp.GenerateQueueNameTopicName, Durable: true},
		Consume:         wamqp.ConsumeConfig{Qos: wamqp.QosConfig{PrefetchCount: cfg.AMQP.Prefetch}},
		TopologyBuilder: topology,
	}, wlogger, subConn)
	if err != nil {
		_ = pubConn.Close()
		_ = subConn.Close()
		return Transport{}, nil, fmt.Errorf("%s: subscriber: %w", where, err)
	}
	pub := amqpbroker.NewPublisher(pubConn, topology, cfg.AMQP.PublishChannels)
	closeAll := func() {
		for _, c := range []interface{ Close() error }{sub, pub, pubConn, subConn} {
			if err := c.Close(); err != nil {
				logger.Error("close amqp transport", "error", err)
			}
		}
	}
	return Transport{
		Publisher:  pub,
		Subscriber: amqpbroker.NewSubscriber(sub, topology),
		Delayer:    pub,
		Check: func(context.Context) error {
			if !subConn.IsConnected() || !pubConn.IsConnected() {
				return errors.New("rabbitmq: not connected; reconnecting")
			}
			return nil
		},
	}, closeAll, nil
}

// NewInprocBroker returns the in-process broker, which keeps the poison queue in memory.
func NewInprocBroker(logger *slog.Logger) (*inproc.Broker, func()) {
	// GoChannel logs every message to a topic nobody consumes (notification.sent) at
	// info; that is routine here.
	broker := inproc.New(watermillLogger(logger, true), handlers.PoisonTopic)
	return broker, func() {
		if err := broker.Close(); err != nil {
			logger.Error("close in-process broker", "error", err)
		}
	}
}

// NewInprocTransport runs the worker on the in-process broker.
func NewInprocTransport(broker *inproc.Broker) Transport {
	return Transport{Publisher: broker, Subscriber: broker, Check: broker.Check}
}

// ProvideStorage opens the stores that cfg names.
func ProvideStorage(cfg *configs.Config) (Storage, func(), error) {
	switch cfg.Store {
	case configs.StoreMemory:
		return NewMemoryStorage(), func() {}, nil
	case configs.StoreRedis:
		return NewRedisStorage(cfg)
	}
	return Storage{}, nil, fmt.Errorf("store %q is not supported", cfg.Store)
}

// redisConnectTimeout bounds the first connection at start-up.
const redisConnectTimeout = 10 * time.Second

// NewRedisStorage connects to the Redis of cfg.
func NewRedisStorage(cfg *configs.Config) (Storage, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisConnectTimeout)
	defer cancel()
	client, err := redisstore.Open(ctx, cfg.Redis.URL)
	if err != nil {
		return Storage{}, nil, fmt.Errorf("store redis at %s: %w", configs.Redact(cfg.Redis.URL), err)
	}
	return RedisStorage(client), func() { _ = client.Close() }, nil
}

// RedisStorage returns the stores on client.
func RedisStorage(client redis.UniversalClient) Storage {
	s := redisstore.New(client)
	return Storage{
		Stores: app.Stores{
			Orders:          s.Orders,
			Inventory:       s.Inventory,
			Payments:        s.Payments,
			Notifications:   s.Notifications,
			IdempotencyKeys: s.IdempotencyKeys,
		},
		Claims: middleware.NewRedisClaims(client),
		Check: func(ctx context.Context) error {
			if err := client.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			return nil
		},
	}
}

// NewMemoryStorage returns empty in-memory stores.
func NewMemoryStorage() Storage {
	return Storage{
		Stores: app.Stores{
			Orders:          memory.NewOrders(),
			Inventory:       memory.NewInventory(),
			Payments:        memory.NewPayments(),
			Notifications:   memory.NewNotifications(),
			IdempotencyKeys: memory.NewIdempotencyKeys(),
		},
		Claims: middleware.NewMemoryClaims(),
		Check:  func(context.Context) error { return nil },
	}
}

// ProvidePaymentProvider returns the simulated provider of CONTRACT 3 behind a circuit
// breaker.
func ProvidePaymentProvider(cfg *configs.Config, logger *slog.Logger, sim *paysim.Provider) payment.Provider {
	b := cfg.Payment.Breaker
	return paybreaker.New(sim, paybreaker.Settings{
		Failures:        b.Failures,
		OpenFor:         b.OpenFor,
		HalfOpenCharges: b.HalfOpenCharges,
		OnStateChange: func(from, to gobreaker.State) {
			logger.Warn("payment provider circuit breaker", "from", from.String(), "to", to.String())
		},
	})
}

// NewPaySim returns the simulated provider configured by cfg.
func NewPaySim(cfg *configs.Config) *paysim.Provider {
	return paysim.New(paysim.Config{
		DeclineAboveCents:    cfg.Payment.DeclineAboveCents,
		Latency:              cfg.Payment.Latency,
		TransientFailureRate: cfg.Payment.TransientFailureRate,
	})
}

// NewMetricsRegistry returns the worker's own registry, with Go and process metrics.
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewChecks lists what /readyz asks: the broker, the store and the router.
func NewChecks(transport Transport, storage Storage, router *message.Router) []httpapi.Check {
	return []httpapi.Check{
		{Name: "broker", Fn: transport.Check},
		{Name: "store", Fn: storage.Check},
		{Name: "router", Fn: func(context.Context) error {
			if router.IsClosed() || !router.IsRunning() {
				return errors.New("router is not running")
			}
			return nil
		}},
	}
}
