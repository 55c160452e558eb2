package tests

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain/event"
)

// DeclineAboveCents is the default decline threshold of the simulated provider.
const DeclineAboveCents = 100000

// Plan is a reproducible load: starting stock and the orders to place. Stock is scarce
// for some SKUs and some orders cost more than the provider accepts, so every ending
// (confirmed, out of stock, declined) shows up.
type Plan struct {
	Stock  map[string]int64
	Orders []PlannedOrder
}

// PlannedOrder is one POST /orders body.
type PlannedOrder struct {
	CustomerID string       `json:"customer_id"`
	Items      []event.Item `json:"items"`
	Currency   string       `json:"currency"`
}

// Total is what the order costs.
func (o PlannedOrder) Total() int64 {
	var total int64
	for _, it := range o.Items {
		total += it.Quantity * it.UnitPriceCents
	}
	return total
}

// NewPlan returns n orders drawn from seed.
func NewPlan(seed uint64, n int) Plan {
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	skus := []string{"SAGA-A", "SAGA-B", "SAGA-C"}
	plan := Plan{Stock: map[string]int64{"SAGA-A": 2 * int64(n), "SAGA-B": int64(n), "SAGA-C": int64(n) / 3}}
	for i := range n {
		o := PlannedOrder{CustomerID: fmt.Sprintf("cust-%d", i%37), Currency: "USD"}
		lines := 1 + rnd.IntN(3)
		for _, j := range rnd.Perm(len(skus))[:lines] {
			price := int64(100 + rnd.IntN(5000))
			if rnd.IntN(10) == 0 {
				price = 60000 // two or more of these are declined
			}
			o.Items = append(o.Items, event.Item{SKU: skus[j], Quantity: int64(1 + rnd.IntN(4)), UnitPriceCents: price})
		}
		plan.Orders = append(plan.Orders, o)
	}
	return plan
}

// Placed is an order the API accepted.
type Placed struct {
	OrderID string
	PlannedOrder
}

// SetStock sets the plan's stock through the admin API of admin.
func (p Plan) SetStock(t testing.TB, admin *Client) {
	t.Helper()
	for sku, n := range p.Stock {
		r := admin.Must(t, http.MethodPut, "/inventory/"+sku, map[string]int64{"available": n})
		require.Equal(t, http.StatusOK, r.Status, "PUT /inventory/%s: %s", sku, r.Body)
	}
}

// PlaceAll posts every order of the plan from `workers` goroutines and returns those
// accepted with 202.
func (p Plan) PlaceAll(t testing.TB, c *Client, workers int) []Placed {
	t.Helper()
	var (
		mu     sync.Mutex
		placed []Placed
		errs   []string
		wg     sync.WaitGroup
	)
	next := make(chan PlannedOrder)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				r, err := c.Do(http.MethodPost, "/orders", o)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case r.Status != http.StatusAccepted:
					errs = append(errs, fmt.Sprintf("%d %s", r.Status, r.Body))
				default:
					var body struct {
						OrderID string `json:"order_id"`
						Status  string `json:"status"`
					}
					r.JSON(t, &body)
					placed = append(placed, Placed{OrderID: body.OrderID, PlannedOrder: o})
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range p.Orders {
		next <- o
	}
	close(next)
	wg.Wait()
	require.Empty(t, errs, "every order is accepted")
	return placed
}

// Eventually polls check every 20ms until it returns "" or timeout passes, then fails
// with the last complaint. It bounds waiting for asynchronous work; it measures nothing.
func Eventually(t testing.TB, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		complaint := check()
		if complaint == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, complaint)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Outcome is how the placed orders ended.
type Outcome struct {
	Orders map[string]OrderView
	Counts map[string]int // confirmed, out_of_stock, payment_declined
}

// AwaitTerminal waits until every placed order is confirmed or cancelled, and until no
// stock is reserved any more (the release of a declined order may finish after its
// cancellation).
func AwaitTerminal(t testing.TB, c *Client, plan Plan, placed []Placed, timeout time.Duration) Outcome {
	t.Helper()
	out := Outcome{Orders: map[string]OrderView{}, Counts: map[string]int{}}
	Eventually(t, timeout, func() string {
		var pending []string
		for _, p := range placed {
			if v, ok := out.Orders[p.OrderID]; ok && (v.Status == "confirmed" || v.Status == "cancelled") {
				continue
			}
			r, err := c.Do(http.MethodGet, "/orders/"+p.OrderID, nil)
			switch {
			case err != nil:
				pending = append(pending, p.OrderID+" ("+err.Error()+")")
				continue
			case r.Status != http.StatusOK:
				pending = append(pending, fmt.Sprintf("%s (HTTP %d)", p.OrderID, r.Status))
				continue
			}
			var v OrderView
			r.JSON(t, &v)
			out.Orders[p.OrderID] = v
			if v.Status != "confirmed" && v.Status != "cancelled" {
				pending = append(pending, p.OrderID+" ("+v.Status+")")
			}
		}
		if len(pending) > 0 {
			return fmt.Sprintf("%d of %d orders not terminal, e.g. %v", len(pending), len(placed), pending[:min(5, len(pending))])
		}
		for sku := range plan.Stock {
			if st := stock(t, c, sku); st.Reserved != 0 {
				return fmt.Sprintf("%s still has %d reserved", sku, st.Reserved)
			}
		}
		return ""
	})
	for _, v := range out.Orders {
		key := v.Status
		if v.Status == "cancelled" {
			key = v.Reason
		}
		out.Counts[key]++
	}
	return out
}

func stock(t testing.TB, c *Client, sku string) StockView {
	t.Helper()
	r := c.Must(t, http.MethodGet, "/inventory/"+sku, nil)
	require.Equal(t, http.StatusOK, r.Status, "GET /inventory/%s: %s", sku, r.Body)
	var st StockView
	r.JSON(t, &st)
	return st
}

// CheckInvariants asserts every invariant of the saga exactly (README.md, "The flow").
// captures counts the captures the payment provider holds per order id.
func CheckInvariants(t testing.TB, c *Client, plan Plan, placed []Placed, out Outcome, captures map[string]int) {
	t.Helper()
	require.Len(t, out.Orders, len(placed))

	// Stock: seed − available = quantity held by confirmed orders (nothing is in flight).
	sold := map[string]int64{}
	for _, p := range placed {
		v := out.Orders[p.OrderID]
		switch {
		case v.Status == "confirmed":
			for _, it := range p.Items {
				sold[it.SKU] += it.Quantity
			}
			assert.LessOrEqual(t, p.Total(), int64(DeclineAboveCents), "order %s above the threshold was confirmed", p.OrderID)
		case v.Status == "cancelled" && v.Reason == "payment_declined":
			assert.Greater(t, p.Total(), int64(DeclineAboveCents), "order %s was declined under the threshold", p.OrderID)
		case v.Status == "cancelled" && v.Reason == "out_of_stock":
		default:
			t.Errorf("order %s ended %s with reason %q", p.OrderID, v.Status, v.Reason)
		}
	}
	for sku, seed := range plan.Stock {
		st := stock(t, c, sku)
		assert.Equal(t, seed-st.Available, sold[sku], "%s: seed − available = quantity sold", sku)
		assert.Zero(t, st.Reserved, "%s: nothing reserved once every order is terminal", sku)
	}

	// One capture per confirmed order, none for a cancelled one.
	for _, p := range placed {
		want := 0
		if out.Orders[p.OrderID].Status == "confirmed" {
			want = 1
		}
		assert.Equal(t, want, captures[p.OrderID], "captures of %s (%s)", p.OrderID, out.Orders[p.OrderID].Status)
	}

	// One notification per terminal order, saying how it ended.
	byCustomer := map[string][]Placed{}
	for _, p := range placed {
		byCustomer[p.CustomerID] = append(byCustomer[p.CustomerID], p)
	}
	Eventually(t, 10*time.Second, func() string {
		for customer, orders := range byCustomer {
			var view NotificationsView
			r := c.Must(t, http.MethodGet, "/notifications?customer_id="+customer, nil)
			r.JSON(t, &view)
			if len(view.Notifications) != len(orders) {
				return fmt.Sprintf("%s has %d notifications for %d orders", customer, len(view.Notifications), len(orders))
			}
		}
		return ""
	})
	for customer, orders := range byCustomer {
		var view NotificationsView
		c.Must(t, http.MethodGet, "/notifications?customer_id="+customer, nil).JSON(t, &view)
		seen := map[string]int{}
		for _, n := range view.Notifications {
			seen[n.OrderID]++
			assert.Equal(t, out.Orders[n.OrderID].Status, n.Status, "notification of %s", n.OrderID)
		}
		for _, p := range orders {
			assert.Equal(t, 1, seen[p.OrderID], "notifications of %s", p.OrderID)
		}
	}
}
