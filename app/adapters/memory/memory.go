// Package memory holds goroutine-safe in-memory stores for every port: the embedded
// default, and the reference the Redis stores are tested against.
package memory

import (
	"context"
	"sort"
	"sync"

	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/notification"
	"github.com/orderflow/orderflow/domain/order"
	"github.com/orderflow/orderflow/domain/payment"
)

// Orders keeps orders in a map.
type Orders struct {
	marks
	mu     sync.Mutex
	orders map[order.ID]order.Snapshot
}

// NewOrders returns an empty order store.
func NewOrders() *Orders { return &Orders{orders: map[order.ID]order.Snapshot{}} }

// Add implements order.Repository.
func (s *Orders) Add(ctx context.Context, o *order.Order) (*order.Order, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.orders[o.ID()]
	s.wrote(ctx, !ok)
	if ok {
		return order.FromSnapshot(held)
	}
	s.orders[o.ID()] = o.Snapshot()
	return order.FromSnapshot(o.Snapshot())
}

// Get implements order.Repository.
func (s *Orders) Get(ctx context.Context, id order.ID) (*order.Order, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.orders[id]
	if !ok {
		return nil, order.ErrNotFound
	}
	return order.FromSnapshot(held)
}

// Update implements order.Repository.
func (s *Orders) Update(ctx context.Context, id order.ID, change func(*order.Order) error) (*order.Order, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.orders[id]
	if !ok {
		return nil, order.ErrNotFound
	}
	o, err := order.FromSnapshot(held)
	if err != nil {
		return nil, err
	}
	if err := change(o); err != nil {
		return nil, err
	}
	next := o.Snapshot()
	s.wrote(ctx, next != held)
	s.orders[id] = next
	return o, nil
}

// reservation is what one order holds.
type reservation struct {
	outcome inventory.Outcome
	items   []inventory.Item
	// open is true while the items are held: not yet committed or released.
	open bool
}

// Inventory keeps stock and reservations in maps.
type Inventory struct {
	marks
	mu           sync.Mutex
	stock        map[inventory.SKU]*inventory.Stock
	reservations map[string]*reservation
}

// NewInventory returns an empty inventory.
func NewInventory() *Inventory {
	return &Inventory{stock: map[inventory.SKU]*inventory.Stock{}, reservations: map[string]*reservation{}}
}

// Seed implements inventory.Repository.
func (s *Inventory) Seed(_ context.Context, stock map[inventory.SKU]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sku, n := range stock {
		if _, ok := s.stock[sku]; !ok {
			s.stock[sku] = &inventory.Stock{SKU: sku, Available: n}
		}
	}
	return nil
}

// Reserve implements inventory.Repository.
func (s *Inventory) Reserve(ctx context.Context, orderID string, items []inventory.Item) (inventory.Outcome, error) {
	if err := s.settle(ctx); err != nil {
		return inventory.Outcome{}, err
	}
	s.wrote(ctx, false) // as on Redis: the mark is never committed with stock
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reservations[orderID]; ok {
		return r.outcome, nil
	}
	wanted := map[inventory.SKU]int64{}
	for _, it := range items {
		wanted[it.SKU] += int64(it.Quantity)
	}
	for _, it := range items {
		var available int64
		if st, ok := s.stock[it.SKU]; ok {
			available = st.Available
		}
		if available < wanted[it.SKU] {
			outcome := inventory.Outcome{Shortage: inventory.Shortage{SKU: it.SKU, Requested: wanted[it.SKU], Available: available}}
			s.reservations[orderID] = &reservation{outcome: outcome}
			return outcome, nil
		}
	}
	for sku, n := range wanted {
		s.stock[sku].Available -= n
		s.stock[sku].Reserved += n
	}
	outcome := inventory.Outcome{Reserved: true}
	s.reservations[orderID] = &reservation{outcome: outcome, items: items, open: true}
	return outcome, nil
}

// Commit implements inventory.Repository.
func (s *Inventory) Commit(ctx context.Context, orderID string) error {
	if err := s.settle(ctx); err != nil {
		return err
	}
	s.wrote(ctx, false)
	s.close(orderID, false)
	return nil
}

// Release implements inventory.Repository.
func (s *Inventory) Release(ctx context.Context, orderID string) error {
	if err := s.settle(ctx); err != nil {
		return err
	}
	s.wrote(ctx, false)
	s.close(orderID, true)
	return nil
}

// close ends an open reservation, giving its items back to available when giveBack.
func (s *Inventory) close(orderID string, giveBack bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[orderID]
	if !ok || !r.open {
		return
	}
	for _, it := range r.items {
		st := s.stock[it.SKU]
		st.Reserved -= int64(it.Quantity)
		if giveBack {
			st.Available += int64(it.Quantity)
		}
	}
	r.open = false
}

// Stock implements inventory.Repository.
func (s *Inventory) Stock(_ context.Context, sku inventory.SKU) (inventory.Stock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stock[sku]
	if !ok {
		return inventory.Stock{}, inventory.ErrUnknownSKU
	}
	return *st, nil
}

// SetAvailable implements inventory.Repository.
func (s *Inventory) SetAvailable(_ context.Context, sku inventory.SKU, available int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stock[sku]; ok {
		st.Available = available
		return nil
	}
	s.stock[sku] = &inventory.Stock{SKU: sku, Available: available}
	return nil
}

// Payments keeps one payment outcome per order.
type Payments struct {
	marks
	mu       sync.Mutex
	outcomes map[string]payment.Outcome
}

// NewPayments returns an empty payment store.
func NewPayments() *Payments { return &Payments{outcomes: map[string]payment.Outcome{}} }

// Record implements payment.Repository.
func (s *Payments) Record(ctx context.Context, orderID string, outcome payment.Outcome) (payment.Outcome, error) {
	if err := s.settle(ctx); err != nil {
		return payment.Outcome{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.outcomes[orderID]
	s.wrote(ctx, !ok)
	if ok {
		return held, nil
	}
	s.outcomes[orderID] = outcome
	return outcome, nil
}

// Get implements payment.Repository.
func (s *Payments) Get(ctx context.Context, orderID string) (payment.Outcome, bool, error) {
	if err := s.settle(ctx); err != nil {
		return payment.Outcome{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.outcomes[orderID]
	return held, ok, nil
}

// Notifications keeps one notification per order.
type Notifications struct {
	marks
	mu      sync.Mutex
	byOrder map[string]notification.Notification
}

// NewNotifications returns an empty notification store.
func NewNotifications() *Notifications {
	return &Notifications{byOrder: map[string]notification.Notification{}}
}

// Record implements notification.Repository.
func (s *Notifications) Record(ctx context.Context, n notification.Notification) (notification.Notification, error) {
	if err := s.settle(ctx); err != nil {
		return notification.Notification{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.byOrder[n.OrderID]
	s.wrote(ctx, true) // recorded now or before: the notification is what it owes
	if ok {
		return held, nil
	}
	s.byOrder[n.OrderID] = n
	return n, nil
}

// ForCustomer implements notification.Repository.
func (s *Notifications) ForCustomer(_ context.Context, customerID string) ([]notification.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []notification.Notification{}
	for _, n := range s.byOrder {
		if n.CustomerID == customerID {
			list = append(list, n)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].SentAt.Equal(list[j].SentAt) {
			return list[i].OrderID < list[j].OrderID
		}
		return list[i].SentAt.Before(list[j].SentAt)
	})
	return list, nil
}
