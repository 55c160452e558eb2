package worker

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/orderflow/orderflow/app/adapters/paybreaker"
	"github.com/orderflow/orderflow/app/adapters/paysim"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/payment"
)

// ProvidePaymentProvider returns the simulated provider behind a circuit breaker, whose
// state reg shows as orderflow_payment_breaker_state.
func ProvidePaymentProvider(cfg *configs.Config, logger *slog.Logger, sim *paysim.Provider, reg prometheus.Registerer) (payment.Provider, error) {
	b := cfg.Payment.Breaker
	provider := paybreaker.New(sim, paybreaker.Settings{
		Failures:        b.Failures,
		OpenFor:         b.OpenFor,
		HalfOpenCharges: b.HalfOpenCharges,
		OnStateChange: func(from, to gobreaker.State) {
			logger.Warn("payment provider circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	// Read at scrape time rather than kept from OnStateChange: gobreaker leaves open
	// for half-open only when asked, so a gauge set on changes would show an idle
	// worker's breaker open long after open_for.
	state := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orderflow_payment_breaker_state",
		Help: "State of the circuit breaker in front of the payment provider: 0 closed, 1 half-open (trial charges), 2 open (captures fail fast).",
	}, func() float64 { return breakerValue(provider.State()) })
	if err := reg.Register(state); err != nil {
		return nil, fmt.Errorf("register breaker metrics: %w", err)
	}
	return provider, nil
}

// NewPaySim returns the simulated provider configured by cfg.
func NewPaySim(cfg *configs.Config) *paysim.Provider {
	return paysim.New(paysim.Config{
		DeclineAboveCents:    cfg.Payment.DeclineAboveCents,
		Latency:              cfg.Payment.Latency,
		TransientFailureRate: cfg.Payment.TransientFailureRate,
	})
}
