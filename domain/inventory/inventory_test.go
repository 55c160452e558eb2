package inventory_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/inventory"
)

func TestNewQuantity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name  string
		In    int64
		Valid bool
	}{
		{"zero", 0, false},
		{"one", 1, true},
		{"max", 1000, true},
		{"above max", 1001, false},
		{"negative", -5, false},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			q, err := inventory.NewQuantity(tt.In)
			if tt.Valid {
				require.NoError(t, err)
				assert.EqualValues(t, tt.In, q)
				return
			}
			assert.EqualError(t, err, "must be 1..1000")
			assert.True(t, domain.IsPermanent(err))
		})
	}
}

func TestParseSKU(t *testing.T) {
	t.Parallel()
	sku, err := inventory.ParseSKU("SKU-RED")
	require.NoError(t, err)
	assert.Equal(t, inventory.SKU("SKU-RED"), sku)
	_, err = inventory.ParseSKU("SKU RED")
	assert.EqualError(t, err, domain.IdentifierRule)
}

func TestShortage_String(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "SKU-RED: requested 3, available 1", inventory.Shortage{SKU: "SKU-RED", Requested: 3, Available: 1}.String())
}
