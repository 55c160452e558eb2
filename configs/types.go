package configs

import (
	"time"

	"gopkg.in/yaml.v3"
)

// The brokers and stores Orderflow can run on.
const (
	BrokerGoChannel = "gochannel"
	BrokerAMQP      = "amqp"
	StoreMemory     = "memory"
	StoreRedis      = "redis"
)

// Config is the whole configuration.
type Config struct {
	Broker          string        `yaml:"broker"`
	Store           string        `yaml:"store"`
	HTTP            HTTP          `yaml:"http"`
	AMQP            AMQP          `yaml:"amqp"`
	Redis           Redis         `yaml:"redis"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	LogLevel        string        `yaml:"log_level"`
	Payment         Payment       `yaml:"payment"`
	Inventory       Inventory     `yaml:"inventory"`
	Dedup           Dedup         `yaml:"dedup"`
	// HandlerDefaults applies to every handler; Handlers replaces blocks of it per
	// handler name.
	HandlerDefaults Handler                    `yaml:"handler_defaults"`
	Handlers        map[string]HandlerOverride `yaml:"handlers"`
}

// Handler configures one handler's chain.
type Handler struct {
	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Consumers is how many messages of the handler's queue are handled at once (AMQP).
	Consumers int      `yaml:"consumers"`
	Retry     Retry    `yaml:"retry"`
	Throttle  Throttle `yaml:"throttle"`
}

// HandlerOverride replaces the blocks it sets of HandlerDefaults.
type HandlerOverride struct {
	Timeout   *time.Duration `yaml:"timeout"`
	Consumers *int           `yaml:"consumers"`
	Retry     *Retry         `yaml:"retry"`
	Throttle  *Throttle      `yaml:"throttle"`
	// Settings are the handler's own, decoded into the struct its row declares (see
	// DecodeSettings); the handler checks them at start-up.
	Settings yaml.Node `yaml:"settings"`
}

// Throttle is a token bucket: PerSecond messages a second, in bursts of Burst. A
// PerSecond of 0 is no limit.
type Throttle struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// Dedup configures the message dedup of every handler.
type Dedup struct {
	TTL      time.Duration `yaml:"ttl"`
	Lease    time.Duration `yaml:"lease"`
	FailOpen bool          `yaml:"fail_open"`
}

// Breaker configures the circuit breaker in front of the payment provider.
type Breaker struct {
	Failures        uint32        `yaml:"failures"`
	OpenFor         time.Duration `yaml:"open_for"`
	HalfOpenCharges uint32        `yaml:"half_open_charges"`
}

// Handler returns the configuration of the handler named name.
func (c *Config) Handler(name string) Handler {
	h := c.HandlerDefaults
	if o, ok := c.Handlers[name]; ok {
		if o.Timeout != nil {
			h.Timeout = *o.Timeout
		}
		if o.Consumers != nil {
			h.Consumers = *o.Consumers
		}
		if o.Retry != nil {
			h.Retry = *o.Retry
		}
		if o.Throttle != nil {
			h.Throttle = *o.Throttle
		}
	}
	return h
}

// HTTP configures the API server.
type HTTP struct {
	Addr string `yaml:"addr"`
}

// AMQP configures RabbitMQ.
type AMQP struct {
	URL string `yaml:"url"`
	// QueueType is "classic" or "quorum".
	QueueType string `yaml:"queue_type"`
	// Prefetch bounds the unacked deliveries of each consumer, and so the worker's
	// memory whatever the backlog.
	Prefetch int `yaml:"prefetch"`
	// PublishChannels are shared by all publishes, which pipeline their confirms.
	PublishChannels int `yaml:"publish_channels"`
	// RetryDelays are the tiers of delayed redelivery, shortest first.
	RetryDelays []time.Duration `yaml:"retry_delays"`
}

// Redis configures the Redis connection.
type Redis struct {
	URL string `yaml:"url"`
}

// Payment configures the simulated payment provider.
type Payment struct {
	DeclineAboveCents    int64         `yaml:"decline_above_cents"`
	Latency              time.Duration `yaml:"latency"`
	TransientFailureRate float64       `yaml:"transient_failure_rate"`
	Breaker              Breaker       `yaml:"breaker"`
}

// Inventory configures the starting stock.
type Inventory struct {
	// Seed is applied only to SKUs the store does not hold yet.
	Seed map[string]int64 `yaml:"seed"`
}

// Retry configures in-process retries of transient errors.
type Retry struct {
	MaxAttempts     int           `yaml:"max_attempts"`
	InitialInterval time.Duration `yaml:"initial_interval"`
	MaxInterval     time.Duration `yaml:"max_interval"`
	MaxElapsed      time.Duration `yaml:"max_elapsed"`
	Jitter          float64       `yaml:"jitter"`
}
