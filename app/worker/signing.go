package worker

import (
	"fmt"
	"log/slog"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/configs"
)

// NewSigningKeys loads the keys of signing.keys_file. Without a file, the embedded
// broker signs with a random key of its own (its events never leave the process), and
// the AMQP broker runs unsigned only when signing.allow_unsigned says so (configs
// refuses it otherwise); nil keys then sign and check nothing.
func NewSigningKeys(cfg *configs.Config, logger *slog.Logger) (*signing.Keys, error) {
	switch {
	case cfg.Signing.KeysFile != "":
		keys, err := signing.Load(cfg.Signing.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("signing.keys_file (%s): %w", configs.EnvSigningKeysFile, err)
		}
		return keys, nil
	case cfg.Broker == configs.BrokerGoChannel:
		return signing.Random(), nil
	case cfg.Signing.AllowUnsigned:
		logger.Warn("events are neither signed nor checked (signing.allow_unsigned): anyone who can publish to the broker can forge them")
		return nil, nil
	}
	return nil, fmt.Errorf("signing.keys_file (%s) is required with broker %s", configs.EnvSigningKeysFile, cfg.Broker)
}

// NewOrderIDSecret derives the secret that turns an Idempotency-Key into an order id
// from the signing key, so that every worker sharing the key file derives the same id
// and nobody without it can.
func NewOrderIDSecret(keys *signing.Keys) app.OrderIDSecret {
	return app.OrderIDSecret(keys.Derive("order-id"))
}
