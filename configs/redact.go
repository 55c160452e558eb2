package configs

import (
	"errors"
	"net/url"
)

// Redact returns rawURL with its password masked, for logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
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

// LogValue lists the configuration for a start-up log line, secrets masked.
func (c *Config) LogValue() []any {
	return []any{
		"broker", c.Broker, "store", c.Store, "http_addr", c.HTTP.Addr,
		"amqp_url", Redact(c.AMQP.URL), "redis_url", Redact(c.Redis.URL),
		"shutdown_timeout", c.ShutdownTimeout.String(), "log_level", c.LogLevel,
	}
}
