package configs

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/inventory"
)

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
	errs = append(errs, checkAMQPURLs(c.AMQP.URLs())...)
	if err := checkURL(c.Redis.URL, "redis", "rediss"); err != nil {
		bad("redis.url ("+EnvRedisURL+")", "%v", err)
	}
	if c.AMQP.ManagementURL != "" {
		if err := checkURL(c.AMQP.ManagementURL, "http", "https"); err != nil {
			bad("amqp.management_url", "%v", err)
		}
	}
	// Each client library reads TLS settings of its own from the URL's query, which
	// would bypass the TLS blocks: go-redis turns verification off on skip_verify
	// without a word, amqp091 ignores its file parameters once a TLS block applies.
	for _, p := range urlParams(c.Redis.URL, "skip_verify") {
		bad("redis.url ("+EnvRedisURL+")", "the %s parameter is refused, so that verification is never off unnoticed: set redis.tls.skip_verify: true instead (a warning is logged at start)", p)
	}
	for _, p := range urlParams(c.AMQP.URLs()[0], "cacertfile", "certfile", "keyfile", "server_name_indication") {
		bad("amqp.url ("+EnvAMQPURL+")", "the %s parameter is refused: set amqp.tls.%s instead", p, amqpTLSSetting[p])
	}
	errs = append(errs, c.AMQP.TLS.validate("amqp.tls", "amqp.url ("+EnvAMQPURL+")", c.AMQP.URLs()[0], "amqp")...)
	errs = append(errs, c.Redis.TLS.validate("redis.tls", "redis.url ("+EnvRedisURL+")", c.Redis.URL, "redis")...)
	switch c.Redis.Mode {
	case "single", "cluster", "sentinel":
	default:
		bad("redis.mode (ORDERFLOW_REDIS_MODE)", "must be \"single\", \"cluster\" or \"sentinel\", got %q", c.Redis.Mode)
	}
	if c.Redis.ReplicaAcks < 0 {
		bad("redis.replica_acks", "must be >= 0, got %d", c.Redis.ReplicaAcks)
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
	if err := checkAddr(c.HTTP.AdminAddr); err != nil {
		bad("http.admin_addr ("+EnvAdminAddr+")", "%v", err)
	} else if c.HTTP.AdminAddr == c.HTTP.Addr && !strings.HasSuffix(c.HTTP.Addr, ":0") {
		bad("http.admin_addr ("+EnvAdminAddr+")", "must differ from http.addr (%s): the admin API is never public", c.HTTP.Addr)
	}
	for _, t := range []struct {
		setting string
		d       time.Duration
	}{{"http.read_timeout", c.HTTP.ReadTimeout}, {"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if t.d <= 0 {
			bad(t.setting, "must be a positive duration such as 10s, got %s", t.d)
		}
	}
	if c.HTTP.MaxHeaderBytes < 1024 {
		bad("http.max_header_bytes", "must be >= 1024, got %d", c.HTTP.MaxHeaderBytes)
	}
	if c.AMQP.MaxBodyBytes < 1024 {
		bad("amqp.max_body_bytes", "must be >= 1024, got %d", c.AMQP.MaxBodyBytes)
	}
	if c.AMQP.MaxHeaders < 16 {
		bad("amqp.max_headers", "must be >= 16 (Orderflow itself sets up to 16), got %d", c.AMQP.MaxHeaders)
	}
	if c.AMQP.MaxHeaderBytes < 1024 {
		bad("amqp.max_header_bytes", "must be >= 1024, got %d", c.AMQP.MaxHeaderBytes)
	}
	if c.Broker == BrokerAMQP && c.Signing.KeysFile == "" && !c.Signing.AllowUnsigned {
		bad("signing.keys_file ("+EnvSigningKeysFile+")", "is required with broker amqp, so that no neighbour on the broker can forge an event; "+
			"write lines of key_id:key (keys of 32 bytes or more) to a file, or set signing.allow_unsigned: true to run without signatures")
	}
	if c.DrainWindow < 0 {
		bad("drain_window", "must be a duration of 0s or more, such as 5s, got %s", c.DrainWindow)
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
		if n < 0 || n > inventory.MaxStock {
			bad("inventory.seed."+sku, "must be 0..%d, got %d", inventory.MaxStock, n)
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
				return fmt.Errorf("%s has no host", redactURL(u))
			}
			return nil
		}
	}
	return fmt.Errorf("must start with %s:// or %s://, got %s", schemes[0], schemes[1], redactURL(u))
}

// checkAMQPURLs checks each URL of a list, and that all of them name the same broker
// but for host and port: the worker reads the credentials, the virtual host and the
// parameters from the first, and a node that took others would be a different broker.
func checkAMQPURLs(urls []string) []error {
	setting := "amqp.url (" + EnvAMQPURL + ")"
	var errs []error
	var first *url.URL
	for i, raw := range urls {
		which := setting
		if len(urls) > 1 {
			which = fmt.Sprintf("%s, URL %d of %d", setting, i+1, len(urls))
		}
		if raw == "" {
			errs = append(errs, fmt.Errorf("%s: is empty (several URLs are separated by single commas)", which))
			continue
		}
		u, err := url.Parse(raw)
		if len(urls) > 1 && (err != nil || u.Scheme == "") {
			// Likely the rest of a password cut at a comma: not shown.
			errs = append(errs, fmt.Errorf("%s: is not a URL; a comma in a password must be percent-encoded (%%2C), as commas separate the URLs of a cluster", which))
			continue
		}
		if err := checkURL(raw, "amqp", "amqps"); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", which, err))
			continue
		}
		if first == nil {
			first = u
			continue
		}
		for _, d := range []struct {
			part        string
			this, first string
		}{
			{"scheme", u.Scheme, first.Scheme},
			{"user and password", u.User.String(), first.User.String()},
			{"virtual host", cmp.Or(u.EscapedPath(), "/"), cmp.Or(first.EscapedPath(), "/")},
			{"parameters", u.RawQuery, first.RawQuery},
		} {
			if d.this != d.first {
				errs = append(errs, fmt.Errorf("%s: differs from URL 1 in its %s: the URLs of a cluster differ in host and port only", which, d.part))
			}
		}
	}
	return errs
}

// amqpTLSSetting maps amqp091's TLS query parameters to the setting that replaces each.
var amqpTLSSetting = map[string]string{
	"cacertfile":             "ca_file",
	"certfile":               "cert_file",
	"keyfile":                "key_file",
	"server_name_indication": "server_name",
}

// urlParams returns those of names that raw's query holds, in the order of names.
func urlParams(raw string, names ...string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil // checkURL reports it
	}
	q := u.Query()
	var found []string
	for _, n := range names {
		if q.Has(n) {
			found = append(found, n)
		}
	}
	return found
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
