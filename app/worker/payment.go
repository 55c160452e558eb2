package worker

import (
	"log/slog"

	"github.com/sony/gobreaker/v2"

	"github.com/orderflow/orderflow/app/adapters/paybreaker"
	"github.com/orderflow/orderflow/app/adapters/paysim"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/payment"
)

// ProvidePaymentProvider returns the simulated provider behind a circuit breaker.
func ProvidePaymentProvider(cfg *configs.Config, logger *slog.Logger, sim *paysim.Provider) payment.Provider {
	b := cfg.Payment.Breaker
	return paybreaker.New(sim, paybreaker.Settings{
		Failures:        b.Failures,
		OpenFor:         b.OpenFor,
		HalfOpenCharges: b.HalfOpenCharges,
		OnStateChange: func(from, to gobreaker.State) {
			logger.Warn("payment provider circuit breaker", "from", from.String(), "to", to.String())
		},
	})
}

// NewPaySim returns the simulated provider configured by cfg.
func NewPaySim(cfg *configs.Config) *paysim.Provider {
	return paysim.New(paysim.Config{
		DeclineAboveCents:    cfg.Payment.DeclineAboveCents,
		Latency:              cfg.Payment.Latency,
		TransientFailureRate: cfg.Payment.TransientFailureRate,
	})
}
