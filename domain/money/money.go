// Package money holds amounts in integer cents and ISO 4217-style currency codes, so that
// no float ever touches a price.
package money

import "github.com/orderflow/orderflow/domain"

// Cents is a non-negative amount in the currency's minor unit.
type Cents int64

// NewCents returns c, or a RuleError when it is negative.
func NewCents(c int64) (Cents, error) {
	if c < 0 {
		return 0, domain.Rulef("must be >= 0")
	}
	return Cents(c), nil
}

// Currency is three upper-case letters, e.g. USD.
type Currency struct{ code string }

// ParseCurrency returns the currency for code, or a RuleError.
func ParseCurrency(code string) (Currency, error) {
	if len(code) != 3 {
		return Currency{}, domain.Rulef("must be three upper-case letters")
	}
	for _, r := range code {
		if r < 'A' || r > 'Z' {
			return Currency{}, domain.Rulef("must be three upper-case letters")
		}
	}
	return Currency{code: code}, nil
}

// String returns the code.
func (c Currency) String() string { return c.code }

// IsZero reports whether c was never set.
func (c Currency) IsZero() bool { return c.code == "" }
