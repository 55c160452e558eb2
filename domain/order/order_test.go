package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/money"
	"github.com/orderflow/orderflow/domain/order"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newOrder(t *testing.T) *order.Order {
	t.Helper()
	usd, err := money.ParseCurrency("USD")
	require.NoError(t, err)
	o, err := order.New(order.Placed{ID: "ord-1", CustomerID: "cust-1", Total: 100, Currency: usd, PlacedAt: now}, now)
	require.NoError(t, err)
	return o
}

// at moves a new order along the given path of statuses.
func at(t *testing.T, path ...order.Status) *order.Order {
	t.Helper()
	o := newOrder(t)
	for _, s := range path {
		var err error
		switch s {
		case order.Reserved:
			err = o.MarkReserved(now)
		case order.Paid:
			err = o.MarkPaid(now)
		case order.Confirmed:
			err = o.Confirm(now)
		case order.Cancelled:
			err = o.Cancel(order.OutOfStock, now)
		}
		require.NoError(t, err)
	}
	return o
}

func TestOrder_transitions(t *testing.T) {
	t.Parallel()
	later := now.Add(time.Minute)
	steps := map[order.Status]func(*order.Order) error{
		order.Reserved:  func(o *order.Order) error { return o.MarkReserved(later) },
		order.Paid:      func(o *order.Order) error { return o.MarkPaid(later) },
		order.Confirmed: func(o *order.Order) error { return o.Confirm(later) },
		order.Cancelled: func(o *order.Order) error { return o.Cancel(order.PaymentDeclined, later) },
	}
	paths := map[order.Status][]order.Status{
		order.Pending:   nil,
		order.Reserved:  {order.Reserved},
		order.Paid:      {order.Reserved, order.Paid},
		order.Confirmed: {order.Reserved, order.Paid, order.Confirmed},
		order.Cancelled: {order.Cancelled},
	}
	tests := []struct {
		Name  string
		From  order.Status
		To    order.Status
		Legal bool
	}{
		{"pending to reserved", order.Pending, order.Reserved, true},
		{"pending to cancelled", order.Pending, order.Cancelled, true},
		{"pending to paid", order.Pending, order.Paid, false},
		{"pending to confirmed", order.Pending, order.Confirmed, false},
		{"reserved to paid", order.Reserved, order.Paid, true},
		{"reserved to cancelled", order.Reserved, order.Cancelled, true},
		{"reserved to confirmed", order.Reserved, order.Confirmed, false},
		{"paid to confirmed", order.Paid, order.Confirmed, true},
		{"paid to cancelled", order.Paid, order.Cancelled, true},
		{"paid to reserved", order.Paid, order.Reserved, false},
		{"confirmed to cancelled", order.Confirmed, order.Cancelled, false},
		{"confirmed to paid", order.Confirmed, order.Paid, false},
		{"cancelled to reserved", order.Cancelled, order.Reserved, false},
		{"cancelled to confirmed", order.Cancelled, order.Confirmed, false},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			o := at(t, paths[tt.From]...)
			err := steps[tt.To](o)
			if tt.Legal {
				require.NoError(t, err)
				assert.Equal(t, tt.To, o.Status())
				assert.Equal(t, later, o.UpdatedAt())
				return
			}
			var te *order.TransitionError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.From, te.From)
			assert.Equal(t, tt.To, te.To)
			assert.True(t, domain.IsPermanent(err), "an illegal transition is permanent")
			assert.Equal(t, tt.From, o.Status(), "a refused transition changes nothing")
		})
	}
}

func TestOrder_repeated_transition_is_noop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name string
		Path []order.Status
	}{
		{"reserved", []order.Status{order.Reserved, order.Reserved}},
		{"paid", []order.Status{order.Reserved, order.Paid, order.Paid}},
		{"confirmed", []order.Status{order.Reserved, order.Paid, order.Confirmed, order.Confirmed}},
		{"cancelled", []order.Status{order.Cancelled, order.Cancelled}},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			o := at(t, tt.Path...)
			assert.Equal(t, tt.Path[len(tt.Path)-1], o.Status())
		})
	}
}

func TestOrder_cancel_keeps_first_reason(t *testing.T) {
	t.Parallel()
	o := newOrder(t)
	require.NoError(t, o.Cancel(order.OutOfStock, now))
	require.NoError(t, o.Cancel(order.PaymentDeclined, now.Add(time.Hour)))
	assert.Equal(t, order.OutOfStock, o.Reason())
	assert.Equal(t, now, o.UpdatedAt())
	assert.Error(t, newOrder(t).Cancel(order.Reason{}, now), "a cancel needs a reason")
}

func TestOrder_terminal_statuses(t *testing.T) {
	t.Parallel()
	for _, s := range []order.Status{order.Pending, order.Reserved, order.Paid} {
		assert.False(t, s.IsTerminal(), s.String())
	}
	assert.True(t, order.Confirmed.IsTerminal())
	assert.True(t, order.Cancelled.IsTerminal())
}

func TestOrder_HasPassed(t *testing.T) {
	t.Parallel()
	paid := at(t, order.Reserved, order.Paid)
	assert.True(t, paid.HasPassed(order.Reserved))
	assert.True(t, paid.HasPassed(order.Paid))
	assert.False(t, paid.HasPassed(order.Confirmed))
	assert.False(t, paid.HasPassed(order.Cancelled))
	cancelled := at(t, order.Cancelled)
	assert.True(t, cancelled.HasPassed(order.Cancelled))
	assert.False(t, cancelled.HasPassed(order.Reserved))
}

func TestOrder_snapshot_round_trip(t *testing.T) {
	t.Parallel()
	o := at(t, order.Cancelled)
	back, err := order.FromSnapshot(o.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, o, back)

	bad := o.Snapshot()
	bad.Status = "lost"
	_, err = order.FromSnapshot(bad)
	assert.ErrorContains(t, err, `unknown order status "lost"`)
}

func TestNew_requires_fields(t *testing.T) {
	t.Parallel()
	_, err := order.New(order.Placed{CustomerID: "cust-1", Total: 1}, now)
	assert.Error(t, err)
}

func TestParseID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name  string
		In    string
		Valid bool
	}{
		{"simple", "ord-1001", true},
		{"every allowed character", "aZ09._:-", true},
		{"64 characters", string(make64('a')), true},
		{"empty", "", false},
		{"65 characters", string(make64('a')) + "a", false},
		{"space", "ord 1", false},
		{"slash", "ord/1", false},
		{"unicode", "ordé", false},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			_, err := order.ParseID(tt.In)
			_, cerr := order.ParseCustomerID(tt.In)
			if tt.Valid {
				assert.NoError(t, err)
				assert.NoError(t, cerr)
				return
			}
			assert.EqualError(t, err, domain.IdentifierRule)
			assert.EqualError(t, cerr, domain.IdentifierRule)
		})
	}
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestSumLines(t *testing.T) {
	t.Parallel()
	sum, err := order.SumLines([]order.Line{{SKU: "A", Quantity: 2, UnitPrice: 1999}, {SKU: "B", Quantity: 1, UnitPrice: 1}})
	require.NoError(t, err)
	assert.Equal(t, money.Cents(3999), sum)

	_, err = order.SumLines([]order.Line{{SKU: "A", Quantity: 1000, UnitPrice: money.Cents(1 << 61)}})
	assert.EqualError(t, err, "total_cents overflows")
}

func TestOrder_apply_is_a_no_op_for_a_replay(t *testing.T) {
	t.Parallel()
	now := time.Now()
	at := func(steps ...func(o *order.Order) error) *order.Order {
		o, err := order.New(order.Placed{ID: "ord-1", CustomerID: "cust-1", Total: 100, Currency: usdForReplay(t)}, now)
		require.NoError(t, err)
		for _, step := range steps {
			require.NoError(t, step(o))
		}
		return o
	}
	reserve := func(o *order.Order) error { return o.MarkReserved(now) }
	pay := func(o *order.Order) error { return o.MarkPaid(now) }
	confirm := func(o *order.Order) error { return o.Confirm(now) }
	cancel := func(o *order.Order) error { return o.Cancel(order.PaymentDeclined, now) }

	for name, o := range map[string]*order.Order{
		"reserved": at(reserve), "paid": at(reserve, pay), "confirmed": at(reserve, pay, confirm), "cancelled": at(reserve, cancel),
	} {
		before := o.Status()
		require.NoError(t, o.ApplyReserved(now), name)
		assert.Equal(t, before, o.Status(), "%s: reserved again changes nothing", name)
	}
	pending := at()
	require.NoError(t, pending.ApplyReserved(now))
	assert.Equal(t, order.Reserved, pending.Status())

	confirmed := at(reserve, pay, confirm)
	require.NoError(t, confirmed.ApplyPaid("pay-2", now))
	assert.Equal(t, order.Confirmed, confirmed.Status())
	assert.Empty(t, confirmed.PaymentID(), "a replay keeps what the order holds")
	var transition *order.TransitionError
	assert.ErrorAs(t, at(reserve, cancel).ApplyPaid("pay-1", now), &transition, "a cancelled order is never paid")
	assert.Empty(t, at(reserve, cancel).PaymentID())
}

func TestOrder_keeps_the_payment_that_paid_it(t *testing.T) {
	t.Parallel()
	o := at(t, order.Reserved)
	assert.Empty(t, o.PaymentID())
	require.NoError(t, o.ApplyPaid("pay-1", time.Now()))
	assert.Equal(t, order.Paid, o.Status())
	assert.Equal(t, "pay-1", o.PaymentID())
	require.NoError(t, o.ApplyPaid("pay-2", time.Now()))
	assert.Equal(t, "pay-1", o.PaymentID(), "the first capture stays")

	back, err := order.FromSnapshot(o.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, "pay-1", back.PaymentID())
}

func usdForReplay(t *testing.T) money.Currency {
	t.Helper()
	usd, err := money.ParseCurrency("USD")
	require.NoError(t, err)
	return usd
}
