// Package configs loads and validates Orderflow's configuration: the embedded default
// (default.yaml), then a file named by --config or ORDERFLOW_CONFIG, then environment
// variables, which win.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orderflow/orderflow/domain"
)

//go:embed default.yaml
var defaultYAML []byte

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

// The environment variables of CONTRACT 1.
const (
	EnvConfig   = "ORDERFLOW_CONFIG"
	EnvBroker   = "ORDERFLOW_BROKER"
	EnvAMQPURL  = "ORDERFLOW_AMQP_URL"
	EnvStore    = "ORDERFLOW_STORE"
	EnvRedisURL = "ORDERFLOW_REDIS_URL"
	EnvHTTPAddr = "ORDERFLOW_HTTP_ADDR"
)

// Load reads the embedded default, then the file at path (when not ""), then the
// variables that getenv returns, and validates the result.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := &Config{}
	if err := decode(defaultYAML, cfg); err != nil {
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		if err := decode(data, cfg); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	cfg.applyEnv(getenv)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Default returns the embedded default configuration.
func Default() *Config {
	cfg := &Config{}
	if err := decode(defaultYAML, cfg); err != nil {
		panic(fmt.Sprintf("embedded default config: %v", err))
	}
	return cfg
}

// decode overlays the YAML in data on cfg; unknown keys are errors, so a typo is caught.
func decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: it changes nothing.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Broker, EnvBroker)
	set(&c.AMQP.URL, EnvAMQPURL)
	set(&c.Store, EnvStore)
	set(&c.Redis.URL, EnvRedisURL)
	set(&c.HTTP.Addr, EnvHTTPAddr)
}

// Validate returns every problem of the configuration, one line each, naming the setting
// (and its variable, where it has one) and what is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if c.Broker != BrokerGoChannel && c.Broker != BrokerAMQP {
		bad("broker ("+EnvBroker+")", "must be %q or %q, got %q", BrokerGoChannel, BrokerAMQP, c.Broker)
	}
	if c.Store != StoreMemory && c.Store != StoreRedis {
		bad("store ("+EnvStore+")", "must be %q or %q, got %q", StoreMemory, StoreRedis, c.Store)
	}
	if err := checkURL(c.AMQP.URL, "amqp", "amqps"); err != nil {
		bad("amqp.url ("+EnvAMQPURL+")", "%v", err)
	}
	if err := checkURL(c.Redis.URL, "redis", "rediss"); err != nil {
		bad("redis.url ("+EnvRedisURL+")", "%v", err)
	}
	if c.AMQP.QueueType != "classic" && c.AMQP.QueueType != "quorum" {
		bad("amqp.queue_type", "must be \"classic\" or \"quorum\", got %q", c.AMQP.QueueType)
	}
	if c.AMQP.Prefetch < 1 {
		bad("amqp.prefetch", "must be >= 1, got %d", c.AMQP.Prefetch)
	}
	if c.AMQP.PublishChannels < 1 {
		bad("amqp.publish_channels", "must be >= 1, got %d", c.AMQP.PublishChannels)
	}
	if len(c.AMQP.RetryDelays) == 0 {
		bad("amqp.retry_delays", "must list at least one delay, e.g. [1s, 10s, 60s]")
	}
	for i, d := range c.AMQP.RetryDelays {
		if d < time.Millisecond || (i > 0 && d <= c.AMQP.RetryDelays[i-1]) {
			bad("amqp.retry_delays", "must be increasing durations of 1ms or more, got %v", c.AMQP.RetryDelays)
			break
		}
	}
	if err := checkAddr(c.HTTP.Addr); err != nil {
		bad("http.addr ("+EnvHTTPAddr+")", "%v", err)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be a positive duration such as 15s, got %s", c.ShutdownTimeout)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.Payment.DeclineAboveCents < 0 {
		bad("payment.decline_above_cents", "must be >= 0, got %d", c.Payment.DeclineAboveCents)
	}
	if c.Payment.Latency < 0 {
		bad("payment.latency", "must be >= 0, got %s", c.Payment.Latency)
	}
	if r := c.Payment.TransientFailureRate; r < 0 || r >= 1 {
		bad("payment.transient_failure_rate", "must be in [0, 1), got %v", r)
	}
	for sku, n := range c.Inventory.Seed {
		if err := domain.CheckIdentifier(sku); err != nil {
			bad("inventory.seed", "SKU %q %v", sku, err)
		}
		if n < 0 {
			bad("inventory.seed."+sku, "must be >= 0, got %d", n)
		}
	}
	if c.Payment.Breaker.Failures < 1 {
		bad("payment.breaker.failures", "must be >= 1, got %d", c.Payment.Breaker.Failures)
	}
	if c.Payment.Breaker.OpenFor <= 0 {
		bad("payment.breaker.open_for", "must be a positive duration, got %s", c.Payment.Breaker.OpenFor)
	}
	if c.Payment.Breaker.HalfOpenCharges < 1 {
		bad("payment.breaker.half_open_charges", "must be >= 1, got %d", c.Payment.Breaker.HalfOpenCharges)
	}
	if c.Dedup.TTL <= 0 {
		bad("dedup.ttl", "must be a positive duration, got %s", c.Dedup.TTL)
	}
	errs = append(errs, validateTimeout("handler_defaults", c.HandlerDefaults.Timeout, c.Dedup.Lease)...)
	errs = append(errs, validateConsumers("handler_defaults", c.HandlerDefaults.Consumers)...)
	errs = append(errs, c.HandlerDefaults.Retry.validate("handler_defaults.retry")...)
	errs = append(errs, c.HandlerDefaults.Throttle.validate("handler_defaults.throttle")...)
	names := make([]string, 0, len(c.Handlers))
	for name := range c.Handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Only the blocks a handler sets are its own to report.
		o, prefix := c.Handlers[name], "handlers."+name
		if o.Timeout != nil {
			errs = append(errs, validateTimeout(prefix, *o.Timeout, c.Dedup.Lease)...)
		}
		if o.Consumers != nil {
			errs = append(errs, validateConsumers(prefix, *o.Consumers)...)
		}
		if o.Retry != nil {
			errs = append(errs, o.Retry.validate(prefix+".retry")...)
		}
		if o.Throttle != nil {
			errs = append(errs, o.Throttle.validate(prefix+".throttle")...)
		}
	}
	return errors.Join(errs...)
}

func validateConsumers(prefix string, n int) []error {
	if n < 1 {
		return []error{fmt.Errorf("%s.consumers: must be >= 1, got %d", prefix, n)}
	}
	return nil
}

func validateTimeout(prefix string, timeout, lease time.Duration) []error {
	if timeout <= 0 {
		return []error{fmt.Errorf("%s.timeout: must be a positive duration, got %s", prefix, timeout)}
	}
	if lease <= timeout {
		return []error{fmt.Errorf("dedup.lease: must be longer than %s.timeout (%s), got %s", prefix, timeout, lease)}
	}
	return nil
}

func (t Throttle) validate(prefix string) []error {
	var errs []error
	if t.PerSecond < 0 {
		errs = append(errs, fmt.Errorf("%s.per_second: must be >= 0, got %v", prefix, t.PerSecond))
	}
	if t.Burst < 1 {
		errs = append(errs, fmt.Errorf("%s.burst: must be >= 1, got %d", prefix, t.Burst))
	}
	return errs
}

func (r Retry) validate(prefix string) []error {
	var errs []error
	if r.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("%s.max_attempts: must be >= 1, got %d", prefix, r.MaxAttempts))
	}
	if r.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("%s.initial_interval: must be a positive duration, got %s", prefix, r.InitialInterval))
	}
	if r.MaxInterval < r.InitialInterval {
		errs = append(errs, fmt.Errorf("%s.max_interval: must be >= initial_interval (%s), got %s", prefix, r.InitialInterval, r.MaxInterval))
	}
	if r.MaxElapsed <= 0 {
		errs = append(errs, fmt.Errorf("%s.max_elapsed: must be a positive duration, got %s", prefix, r.MaxElapsed))
	}
	if r.Jitter < 0 || r.Jitter > 1 {
		errs = append(errs, fmt.Errorf("%s.jitter: must be in [0, 1], got %v", prefix, r.Jitter))
	}
	return errs
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL (%s)", redactedParseError(err))
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" {
				return fmt.Errorf("%s has no host", u.Redacted())
			}
			return nil
		}
	}
	return fmt.Errorf("must start with %s:// or %s://, got %s", schemes[0], schemes[1], u.Redacted())
}

// redactedParseError keeps the reason of a URL parse error without the URL, which may
// hold a password.
func redactedParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "unparseable"
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be 0..65535, got %q", port)
	}
	return nil
}

// Redact returns rawURL with its password masked, for logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// LogValue lists the configuration for a start-up log line, secrets masked.
func (c *Config) LogValue() []any {
	return []any{
		"broker", c.Broker, "store", c.Store, "http_addr", c.HTTP.Addr,
		"amqp_url", Redact(c.AMQP.URL), "redis_url", Redact(c.Redis.URL),
		"shutdown_timeout", c.ShutdownTimeout.String(), "log_level", c.LogLevel,
	}
}
