package configs

import (
	"errors"
	"net/url"
	"strings"
)

// mask replaces a secret, as url.URL.Redacted does a password.
const mask = "xxxxx"

// Redact returns rawURL with its credentials masked, for logs and error messages: the
// password, a user name given without one (which is then a token, as with
// amqp://TOKEN@host), and the values of password-like query parameters (see
// secretParam). A list of URLs separated by commas, as ORDERFLOW_AMQP_URL may hold, is
// redacted URL by URL.
func Redact(rawURL string) string {
	if parts := SplitURLs(rawURL); len(parts) > 1 && everyHasScheme(parts) {
		for i, p := range parts {
			parts[i] = Redact(p)
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return redactURL(u)
}

// SplitURLs splits a comma-separated list of URLs (CONTRACT 6: one per RabbitMQ node),
// dropping the spaces around each. A single URL is a list of one.
func SplitURLs(raw string) []string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// everyHasScheme reports whether each part parses as a URL with a scheme. A comma in a
// password (which must be percent-encoded in a list) splits it into parts that do not,
// and the whole is then masked as one URL rather than shown part by part.
func everyHasScheme(parts []string) bool {
	for _, p := range parts {
		if u, err := url.Parse(p); err != nil || u.Scheme == "" {
			return false
		}
	}
	return true
}

// redactURL is Redact on a parsed URL.
func redactURL(u *url.URL) string {
	r := *u
	if r.Opaque != "" {
		// "amqp:user:pass@host" parses as opaque data, credentials and all.
		r.Opaque = mask
	}
	if r.User != nil {
		if _, ok := r.User.Password(); ok {
			r.User = url.UserPassword(r.User.Username(), mask)
		} else if r.User.Username() != "" {
			r.User = url.User(mask)
		}
	}
	r.RawQuery = redactQuery(r.RawQuery)
	if r.Fragment != "" {
		r.Fragment, r.RawFragment = mask, ""
	}
	return r.String()
}

// redactQuery masks the values of the secret parameters of query, keeping every other
// parameter as written and in its order.
func redactQuery(query string) string {
	if query == "" {
		return ""
	}
	parts := strings.Split(query, "&")
	for i, part := range parts {
		name, _, hasValue := strings.Cut(part, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if hasValue && secretParam(name) {
			parts[i] = url.QueryEscape(name) + "=" + mask
		}
	}
	return strings.Join(parts, "&")
}

// secretParam reports whether a query parameter of this name holds a credential:
// password=, passwd=, token=, access_token=, secret=, api_key=, auth=, sig=, and the
// like. It errs on the side of masking: a masked harmless value costs a log reader
// little, a leaked secret costs a rotation.
func secretParam(name string) bool {
	n := strings.NewReplacer("_", "", "-", "", ".", "").Replace(strings.ToLower(name))
	for _, s := range []string{"pass", "pwd", "secret", "token", "credential", "signature", "apikey", "accesskey", "privatekey", "sessionkey"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	switch n {
	case "key", "auth", "authorization", "sig", "jwt", "bearer":
		return true
	}
	return false
}

// redactedParseError keeps the reason of a URL parse error without the URL, which may
// hold a password. net/url quotes what it took for a port, and that is a password when
// it holds a / or a # (amqp://user:pass/word@host), so that is left out too.
func redactedParseError(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "unparseable"
	}
	msg := ue.Err.Error()
	if strings.HasPrefix(msg, "invalid port ") {
		return "invalid port after host (a password with / or # in it must be percent-encoded)"
	}
	return msg
}

// LogValue lists the configuration for a start-up log line, secrets masked.
func (c *Config) LogValue() []any {
	return []any{
		"broker", c.Broker, "store", c.Store, "http_addr", c.HTTP.Addr,
		"amqp_url", Redact(c.AMQP.URL), "amqp_management_url", Redact(c.AMQP.ManagementURL), "redis_url", Redact(c.Redis.URL),
		"shutdown_timeout", c.ShutdownTimeout.String(), "log_level", c.LogLevel,
	}
}
