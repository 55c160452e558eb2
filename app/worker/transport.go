package worker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/adapters/inproc"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/middleware"
)

// Subscriber is a transport's subscriber: queues are bound to event names, with the
// number of messages to handle at once, before the router subscribes to them.
type Subscriber interface {
	message.Subscriber
	Bind(queue string, consumers int, events ...string) error
}

// Transport is the broker a worker runs on.
type Transport struct {
	Publisher  message.Publisher
	Subscriber Subscriber
	// Delayer parks messages for delayed redelivery; nil when the broker cannot, and
	// then what retry gives up on goes to the poison queue at once.
	Delayer middleware.Delayer
	// Check reports whether the broker answers, for readiness.
	Check func(ctx context.Context) error
	// System names the broker in traces: "rabbitmq" or "gochannel".
	System string
	// Queues reads the broker's figures of the worker's queues for the queue metrics;
	// nil on a broker that has no queues to read (the in-process one).
	Queues QueueStats
}

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

// NewAMQPTransport connects to the RabbitMQ of cfg.
func NewAMQPTransport(cfg *configs.Config, logger *slog.Logger) (Transport, func(), error) {
	where := "broker amqp at " + configs.Redact(cfg.AMQP.URL)
	tlsConfig, err := clientTLS("amqp", cfg.AMQP.ClientTLS, cfg.AMQP.URL, logger)
	if err != nil {
		return Transport{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	broker, err := amqpbroker.Connect(amqpbroker.Options{
		URLs:            cfg.AMQP.URLs(),
		Where:           where,
		QueueType:       cfg.AMQP.QueueType,
		Prefetch:        cfg.AMQP.Prefetch,
		PublishChannels: cfg.AMQP.PublishChannels,
		RetryDelays:     cfg.AMQP.RetryDelays,
		TLS:             tlsConfig,
		Limits: amqpbroker.Limits{
			MaxBodyBytes:   cfg.AMQP.MaxBodyBytes,
			MaxHeaders:     cfg.AMQP.MaxHeaders,
			MaxHeaderBytes: cfg.AMQP.MaxHeaderBytes,
		},
		Logger: logger,
	}, watermillLogger(logger, true))
	if err != nil {
		return Transport{}, nil, err
	}
	closeBroker := func() {
		if err := broker.Close(); err != nil {
			logger.Error("close amqp transport", "error", err)
		}
	}
	queues := broker.QueueStats
	if cfg.AMQP.ManagementURL != "" {
		api, err := broker.NewManagement(cfg.AMQP.ManagementURL, "rabbitmq management api at "+configs.Redact(cfg.AMQP.ManagementURL), cfg.AMQP.URLs()[0])
		if err != nil {
			closeBroker()
			return Transport{}, nil, fmt.Errorf("%s: %w", where, err)
		}
		queues = api.QueueStats
	}
	return Transport{
		Publisher:  broker.Publisher,
		Subscriber: broker.Subscriber,
		Delayer:    broker.Publisher,
		Check:      broker.Check,
		System:     "rabbitmq",
		Queues:     queues,
	}, closeBroker, nil
}

// NewInprocBroker returns the in-process broker, which keeps the poison queue in memory.
func NewInprocBroker(logger *slog.Logger) (*inproc.Broker, func()) {
	// GoChannel logs every message to a topic nobody consumes (notification.sent) at
	// info; that is routine here.
	broker := inproc.New(watermillLogger(logger, true), envelope.PoisonTopic)
	return broker, func() {
		if err := broker.Close(); err != nil {
			logger.Error("close in-process broker", "error", err)
		}
	}
}

// NewInprocTransport runs the worker on the in-process broker.
func NewInprocTransport(broker *inproc.Broker) Transport {
	return Transport{Publisher: broker, Subscriber: broker, Check: broker.Check, System: "gochannel"}
}

// NewPublisher is the transport's publisher with publish metrics: every publish of the
// worker goes through it, events and the poison queue alike.
func NewPublisher(transport Transport, m *Metrics) message.Publisher {
	return m.Publisher(transport.Publisher)
}
