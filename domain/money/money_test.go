package money_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain/money"
)

func TestParseCurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		In    string
		Valid bool
	}{
		{"USD", true}, {"EUR", true}, {"usd", false}, {"US", false}, {"USDX", false}, {"U1D", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.In, func(t *testing.T) {
			t.Parallel()
			c, err := money.ParseCurrency(tt.In)
			if tt.Valid {
				require.NoError(t, err)
				assert.Equal(t, tt.In, c.String())
				assert.False(t, c.IsZero())
				return
			}
			assert.EqualError(t, err, "must be three upper-case letters")
		})
	}
}

func TestNewCents(t *testing.T) {
	t.Parallel()
	c, err := money.NewCents(0)
	require.NoError(t, err)
	assert.Equal(t, money.Cents(0), c)
	_, err = money.NewCents(-1)
	assert.EqualError(t, err, "must be >= 0")
}
