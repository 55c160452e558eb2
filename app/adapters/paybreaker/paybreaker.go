// Package paybreaker puts a circuit breaker (sony/gobreaker) in front of a payment
// provider: after repeated failures it stops calling the provider for a while, so an
// outage is not made worse by every retry, and captures fail fast as transient errors.
package paybreaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/payment"
)

// Settings tune the breaker.
type Settings struct {
	// Failures in a row that open the breaker.
	Failures uint32
	// OpenFor is how long it stays open before letting trial charges through.
	OpenFor time.Duration
	// HalfOpenCharges is how many trial charges may run while half-open; that many
	// successes close it again.
	HalfOpenCharges uint32
	// OnStateChange is told every change, e.g. to log it.
	OnStateChange func(from, to gobreaker.State)
}

// Provider is a payment.Provider behind a circuit breaker.
type Provider struct {
	inner   payment.Provider
	breaker *gobreaker.CircuitBreaker[payment.Receipt]
}

// New wraps inner.
func New(inner payment.Provider, s Settings) *Provider {
	return &Provider{
		inner: inner,
		breaker: gobreaker.NewCircuitBreaker[payment.Receipt](gobreaker.Settings{
			Name:        "payment-provider",
			MaxRequests: s.HalfOpenCharges,
			Timeout:     s.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
			// A decline is the provider working as it should.
			IsSuccessful: func(err error) bool {
				var declined *payment.DeclinedError
				return err == nil || errors.As(err, &declined)
			},
			// Our own shutdown or time-out says nothing about the provider.
			IsExcluded: func(err error) bool {
				return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
			},
			OnStateChange: func(_ string, from, to gobreaker.State) {
				if s.OnStateChange != nil {
					s.OnStateChange(from, to)
				}
			},
		}),
	}
}

// Charge implements payment.Provider. While the breaker is open it returns
// payment.ErrProviderUnavailable at once.
func (p *Provider) Charge(ctx context.Context, key string, amount money.Cents, currency money.Currency) (payment.Receipt, error) {
	receipt, err := p.breaker.Execute(func() (payment.Receipt, error) {
		return p.inner.Charge(ctx, key, amount, currency)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return receipt, fmt.Errorf("charge %s: %w (circuit breaker: %w)", key, payment.ErrProviderUnavailable, err)
	}
	return receipt, err
}

// State is the breaker's state, for readiness and tests.
func (p *Provider) State() gobreaker.State { return p.breaker.State() }
