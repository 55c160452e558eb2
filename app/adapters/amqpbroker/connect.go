package amqpbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"

	"github.com/orderflow/orderflow/domain"
)

// Options are the settings of a connection to RabbitMQ.
type Options struct {
	// URLs are the nodes of the broker, one URL each, which differ in host and port
	// only; the worker connects to one that answers (see nodes).
	URLs []string
	// Where names the broker in errors, without secrets.
	Where string
	// QueueType is "classic" or "quorum".
	QueueType string
	// Prefetch bounds the unacked deliveries of each consumer.
	Prefetch int
	// PublishChannels are shared by all publishes, which pipeline their confirms.
	PublishChannels int
	// RetryDelays are the tiers of delayed redelivery, shortest first.
	RetryDelays []time.Duration
	// TLS configures amqps:// URLs (see configs.TLS.ClientConfig); nil for amqp://. An
	// empty ServerName verifies each node under its own host.
	TLS *tls.Config
	// Limits cap the body and headers of a consumed delivery; one over them goes to the
	// poison queue instead of to its handler. The zero value caps nothing.
	Limits Limits
	// Logger logs the messages the subscriber poisons itself (over Limits); Watermill's
	// own lines go to the adapter given to Connect. Nil logs nothing.
	Logger *slog.Logger
}

// Broker is a connected RabbitMQ: its publisher, its subscriber, and how to close both.
type Broker struct {
	Publisher  *Publisher
	Subscriber *Subscriber
	closers    []interface{ Close() error }
	pubConn    *wamqp.ConnectionWrapper
	subConn    *wamqp.ConnectionWrapper
	topology   *Topology
}

// Connect opens one connection to consume and one to publish, as RabbitMQ advises (its
// flow control blocks publishing connections), both re-established by watermill-amqp
// with backoff when lost, on another node of opts.URLs where there are several.
func Connect(opts Options, logger watermill.LoggerAdapter) (*Broker, error) {
	cluster, err := newNodes(opts.URLs, opts.TLS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Where, err)
	}
	connCfg := wamqp.ConnectionConfig{
		AmqpURI:    cluster.uri,
		AmqpConfig: cluster.config(),
		Reconnect: &wamqp.ReconnectConfig{
			BackoffInitialInterval:     200 * time.Millisecond,
			BackoffRandomizationFactor: 0.5,
			BackoffMultiplier:          1.5,
			BackoffMaxInterval:         5 * time.Second,
		},
	}
	// A broker that does not answer yet is unavailable: the worker waits for it.
	subConn, err := wamqp.NewConnection(connCfg, logger)
	if err != nil {
		return nil, domain.Unavailable(opts.Where, err)
	}
	pubConn, err := wamqp.NewConnection(connCfg, logger)
	if err != nil {
		_ = subConn.Close()
		return nil, domain.Unavailable(opts.Where, err)
	}
	topology := &Topology{QueueType: opts.QueueType, RetryDelays: opts.RetryDelays}
	sub, err := wamqp.NewSubscriberWithConnection(wamqp.Config{
		Marshaler: Marshaler{Limits: opts.Limits},
		Exchange: wamqp.ExchangeConfig{
			GenerateName: func(string) string { return Exchange },
			Type:         "topic",
			Durable:      true,
		},
		Queue:           wamqp.QueueConfig{GenerateName: wamqp.GenerateQueueNameTopicName, Durable: true},
		Consume:         wamqp.ConsumeConfig{Qos: wamqp.QosConfig{PrefetchCount: opts.Prefetch}},
		TopologyBuilder: topology,
	}, logger, subConn)
	if err != nil {
		_ = pubConn.Close()
		_ = subConn.Close()
		return nil, fmt.Errorf("%s: subscriber: %w", opts.Where, err)
	}
	pub := NewPublisher(pubConn, topology, opts.PublishChannels)
	return &Broker{
		Publisher:  pub,
		Subscriber: NewSubscriber(sub, topology, pub, opts.Logger),
		closers:    []interface{ Close() error }{sub, pub, pubConn, subConn},
		pubConn:    pubConn,
		subConn:    subConn,
		topology:   topology,
	}, nil
}

// Check reports whether both connections are up, for readiness.
func (b *Broker) Check(context.Context) error {
	if !b.subConn.IsConnected() || !b.pubConn.IsConnected() {
		return errors.New("rabbitmq: not connected; reconnecting")
	}
	return nil
}

// Close closes the subscriber, the publisher and both connections.
func (b *Broker) Close() error {
	var errs []error
	for _, c := range b.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
