package paybreaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/adapters/paybreaker"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/payment"
)

// flaky is a provider that fails while down and declines above 100.
type flaky struct {
	mu    sync.Mutex
	down  bool
	calls int
}

func (f *flaky) Charge(_ context.Context, key string, amount money.Cents, _ money.Currency) (payment.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return payment.Receipt{}, payment.ErrProviderUnavailable
	}
	if amount > 100 {
		return payment.Receipt{}, &payment.DeclinedError{Reason: payment.ReasonDeclined}
	}
	return payment.Receipt{PaymentID: "pay-" + key}, nil
}

func (f *flaky) set(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flaky) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var usd, _ = money.ParseCurrency("USD")

func TestBreaker_opens_fails_fast_and_recovers_half_open(t *testing.T) {
	t.Parallel()
	inner := &flaky{down: true}
	p := paybreaker.New(inner, paybreaker.Settings{Failures: 3, OpenFor: 100 * time.Millisecond, HalfOpenCharges: 1})
	ctx := context.Background()

	for range 3 {
		_, err := p.Charge(ctx, "o", 1, usd)
		assert.ErrorIs(t, err, payment.ErrProviderUnavailable)
	}
	assert.Equal(t, gobreaker.StateOpen, p.State(), "three failures in a row open it")

	_, err := p.Charge(ctx, "o", 1, usd)
	assert.ErrorIs(t, err, payment.ErrProviderUnavailable, "open: a transient error")
	assert.ErrorIs(t, err, gobreaker.ErrOpenState)
	assert.Equal(t, 3, inner.count(), "open: the provider is not called")

	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, gobreaker.StateHalfOpen, p.State())
	_, err = p.Charge(ctx, "o", 1, usd)
	assert.ErrorIs(t, err, payment.ErrProviderUnavailable)
	assert.Equal(t, gobreaker.StateOpen, p.State(), "a failed trial opens it again")

	inner.set(false)
	time.Sleep(150 * time.Millisecond)
	receipt, err := p.Charge(ctx, "o", 1, usd)
	require.NoError(t, err)
	assert.Equal(t, "pay-o", receipt.PaymentID)
	assert.Equal(t, gobreaker.StateClosed, p.State(), "a good trial closes it")
}

func TestBreaker_declines_do_not_trip_it(t *testing.T) {
	t.Parallel()
	p := paybreaker.New(&flaky{}, paybreaker.Settings{Failures: 2, OpenFor: time.Minute, HalfOpenCharges: 1})
	for range 5 {
		_, err := p.Charge(context.Background(), "o", 1000, usd)
		var declined *payment.DeclinedError
		require.True(t, errors.As(err, &declined))
	}
	assert.Equal(t, gobreaker.StateClosed, p.State())
}
