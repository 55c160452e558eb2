package domain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/orderflow/orderflow/domain"
)

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name      string
		Err       error
		Permanent bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"rule", domain.Rulef("x must be y"), true},
		{"wrapped rule", fmt.Errorf("reserve: %w", domain.Rulef("x")), true},
		{"malformed", &domain.MalformedError{What: "e", Err: errors.New("eof")}, true},
		{"marked", domain.Permanent(errors.New("boom")), true},
		{"wrapped marked", fmt.Errorf("ctx: %w", domain.Permanent(errors.New("boom"))), true},
		{"joined with a permanent", errors.Join(errors.New("a"), domain.Rulef("b")), true},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.Permanent, domain.IsPermanent(tt.Err))
		})
	}
	assert.NoError(t, domain.Permanent(nil))
	assert.Equal(t, "boom", domain.Permanent(errors.New("boom")).Error())
}

func TestInField(t *testing.T) {
	t.Parallel()
	assert.EqualError(t, domain.InField("items[0].quantity", domain.Rulef("must be 1..1000")), "items[0].quantity must be 1..1000")
	plain := errors.New("io")
	assert.Same(t, plain, domain.InField("x", plain))
}
