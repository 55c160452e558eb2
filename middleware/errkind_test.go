package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/middleware"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		Name string
		Err  error
		Want middleware.Kind
	}{
		{"plain", errors.New("provider timed out"), middleware.Transient},
		{"rule", domain.Rulef("items must hold 1..100 items"), middleware.Permanent},
		{"wrapped rule", fmt.Errorf("reserve: %w", domain.Rulef("x")), middleware.Permanent},
		{"store down", domain.Unavailable("redis", errors.New("refused")), middleware.Waiting},
		{"in flight", fmt.Errorf("%w: k", middleware.ErrInFlight), middleware.Waiting},
		{"shutdown", fmt.Errorf("charge: %w", context.Canceled), middleware.Cancelled},
		{"a rule met during shutdown", errors.Join(domain.Rulef("x"), context.Canceled), middleware.Cancelled},
	} {
		assert.Equal(t, tt.Want, middleware.KindOf(tt.Err), tt.Name)
	}
}
