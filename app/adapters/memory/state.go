package memory

import (
	"bytes"
	"context"
	"maps"
	"sync"
	"time"

	"github.com/orderflow/orderflow/app"
)

// States holds every handler's state in process memory; expired entries are swept, so
// memory is bounded by what is live.
type States struct {
	mu     sync.Mutex
	now    func() time.Time
	values map[string]heldValue
	sets   map[string]*heldSet
	sweeps sweeper
}

type heldValue struct {
	value   []byte
	expires time.Time // zero: never
}

type heldSet struct {
	members map[string]time.Time
	expires time.Time
}

// NewStates returns empty state for every handler.
func NewStates() *States {
	return &States{now: time.Now, values: map[string]heldValue{}, sets: map[string]*heldSet{}}
}

// For returns the state of handler.
func (s *States) For(handler string) app.State { return handlerState{s: s, prefix: handler + "\x00"} }

type handlerState struct {
	s      *States
	prefix string
}

func (h handlerState) PutOnce(_ context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	if held, ok := s.values[h.prefix+key]; ok && held.live(now) {
		return bytes.Clone(held.value), false, nil
	}
	v := heldValue{value: bytes.Clone(value)}
	if ttl > 0 {
		v.expires = now.Add(ttl)
	}
	s.values[h.prefix+key] = v
	return bytes.Clone(value), true, nil
}

func (h handlerState) Get(_ context.Context, key string) ([]byte, bool, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.values[h.prefix+key]
	if !ok || !held.live(s.now()) {
		return nil, false, nil
	}
	return bytes.Clone(held.value), true, nil
}

func (h handlerState) AddOnce(_ context.Context, set, member string, at time.Time, window time.Duration) (int64, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(s.now())
	held, ok := s.sets[h.prefix+set]
	if !ok {
		held = &heldSet{members: map[string]time.Time{}}
		s.sets[h.prefix+set] = held
	}
	since := at.Add(-window)
	for m, added := range held.members {
		if added.Before(since) {
			delete(held.members, m)
		}
	}
	if _, ok := held.members[member]; !ok {
		held.members[member] = at
	}
	held.expires = at.Add(window)
	return int64(len(held.members)), nil
}

func (v heldValue) live(now time.Time) bool { return v.expires.IsZero() || now.Before(v.expires) }

// sweep drops expired values and sets when a sweep is due.
func (s *States) sweep(now time.Time) {
	if s.sweeps.due(now) {
		maps.DeleteFunc(s.values, func(_ string, v heldValue) bool { return !v.live(now) })
		maps.DeleteFunc(s.sets, func(_ string, set *heldSet) bool { return !now.Before(set.expires) })
	}
}
