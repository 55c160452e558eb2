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

// Config is the whole configuration. The yaml tag of a field names its setting, and so
// its variable (EnvPrefix: amqp.prefetch is ORDERFLOW_AMQP_PREFETCH); env:"alias=NAME"
// gives the variable a second name, env:"file" adds a NAME_FILE variable for a secret,
// and help a meaning for `orderflow help` where default.yaml has no comment.
type Config struct {
	Broker          string        `yaml:"broker"`
	Store           string        `yaml:"store"`
	HTTP            HTTP          `yaml:"http"`
	AMQP            AMQP          `yaml:"amqp"`
	Redis           Redis         `yaml:"redis"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DrainWindow is how long /readyz answers 503 after SIGTERM before the HTTP servers
	// stop, so load balancers take the worker out before it stops taking requests. It
	// is part of ShutdownTimeout, and at most half of it.
	DrainWindow time.Duration `yaml:"drain_window"`
	LogLevel    string        `yaml:"log_level"`
	Payment     Payment       `yaml:"payment"`
	Inventory   Inventory     `yaml:"inventory"`
	Dedup       Dedup         `yaml:"dedup"`
	Signing     Signing       `yaml:"signing"`
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
	Settings yaml.Node `yaml:"settings" help:"the handler's own settings, a block such as {max_orders: 2}; the keys it names replace the file's"`
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

// HTTP configures the public and the admin listeners.
type HTTP struct {
	Addr string `yaml:"addr"`
	// AdminAddr serves PUT /inventory/{sku} and the other operational endpoints.
	AdminAddr string `yaml:"admin_addr" env:"alias=ORDERFLOW_ADMIN_ADDR"`
	// AdminTokenFile, when set, names a file whose one line is the admin bearer token.
	AdminTokenFile string `yaml:"admin_token_file" env:"alias=ORDERFLOW_ADMIN_TOKEN_FILE"`
	// APITokensFile, when set, names a file of bearer tokens (one a line) the public
	// endpoints require.
	APITokensFile string `yaml:"api_tokens_file" env:"alias=ORDERFLOW_API_TOKENS_FILE"`
	// ReadTimeout bounds reading a whole request, WriteTimeout writing its answer,
	// IdleTimeout a keep-alive connection between requests.
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes int           `yaml:"max_header_bytes"`
}

// Signing configures the signatures of the events Orderflow publishes.
type Signing struct {
	// KeysFile names a file of key_id:secret lines; the first signs, all verify.
	KeysFile string `yaml:"keys_file"`
	// AllowUnsigned lets the AMQP broker run without keys: events are neither signed
	// nor checked, so any neighbour on the broker can forge them.
	AllowUnsigned bool `yaml:"allow_unsigned"`
	// RequireSignedOrders refuses order.placed without a valid signature too.
	RequireSignedOrders bool `yaml:"require_signed_orders"`
}

// TLS configures a TLS connection to RabbitMQ (amqps://) or Redis (rediss://).
type TLS struct {
	// CAFile holds the PEM certificates the server is verified against, instead of
	// the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name verified in the server's certificate; default the URL's
	// host.
	ServerName string `yaml:"server_name"`
	// SkipVerify turns verification off; a warning is logged at start.
	SkipVerify bool `yaml:"skip_verify"`
}

// AMQP configures RabbitMQ.
type AMQP struct {
	// URL holds the password: its variable may name a file instead (_FILE). Several
	// URLs separated by commas, one per node of a cluster, differ only in host and
	// port (see URLs).
	URL string `yaml:"url" env:"file"`
	// QueueType is "classic" or "quorum".
	QueueType string `yaml:"queue_type"`
	// Prefetch bounds the unacked deliveries of each consumer, and so the worker's
	// memory whatever the backlog.
	Prefetch int `yaml:"prefetch"`
	// PublishChannels are shared by all publishes, which pipeline their confirms.
	PublishChannels int `yaml:"publish_channels"`
	// RetryDelays are the tiers of delayed redelivery, shortest first.
	RetryDelays []time.Duration `yaml:"retry_delays"`
	// MaxBodyBytes is the largest body consumed; a larger one is poisoned.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxHeaders and MaxHeaderBytes cap the headers of a consumed message in number
	// and in total size of names and values.
	MaxHeaders     int `yaml:"max_headers"`
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	TLS            TLS `yaml:"tls"`
	// ManagementURL is the RabbitMQ management API (http://user:password@host:15672),
	// from which the queue metrics are read, unacked counts included; empty, they come
	// from a passive declare of each queue, which gives no unacked count.
	ManagementURL string `yaml:"management_url" env:"file"`
}

// URLs returns the nodes of URL, one URL each.
func (a AMQP) URLs() []string { return SplitURLs(a.URL) }

// Redis configures the Redis connection.
type Redis struct {
	// Mode is single, cluster or sentinel: how URL is read (CONTRACT 6).
	Mode string `yaml:"mode"`
	// URL holds the password: its variable may name a file instead (_FILE).
	URL string `yaml:"url" env:"file"`
	TLS TLS    `yaml:"tls"`
	// ReplicaAcks is how many replicas each write waits for before the handler goes on
	// (redisstore.WaitForReplicas); 0 waits for none.
	ReplicaAcks int `yaml:"replica_acks"`
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
