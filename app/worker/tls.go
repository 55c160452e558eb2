package worker

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/orderflow/orderflow/configs"
)

// clientTLS returns the TLS configuration that newConfig makes for the connection to
// rawURL as the block setting.tls (amqp.tls, redis.tls) describes, nil for a plain URL.
// Turning verification off is allowed only by name, and never silently: it is logged as
// a warning at every start (CONTRACT 7).
func clientTLS(setting string, newConfig func() (*tls.Config, error), rawURL string, logger *slog.Logger) (*tls.Config, error) {
	c, err := newConfig()
	if err != nil {
		return nil, fmt.Errorf("%s.tls: %w", setting, err)
	}
	if c != nil && c.InsecureSkipVerify {
		logger.Warn("TLS does not verify the server: anyone on the path can read and change the traffic; unset "+setting+".tls.skip_verify",
			"setting", setting+".tls.skip_verify", "url", configs.Redact(rawURL))
	}
	return c, nil
}
