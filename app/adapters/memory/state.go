package memory

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/app"
)

// States holds every handler's state in process memory; expired entries are swept, so
// memory is bounded by what is live.
type States struct {
	marks
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

// key is where k lives: as on Redis, "k" and "{k}" are one key (a key without a hash
// tag is its own), so a handler sees the same keys on both backends.
func (h handlerState) key(k string) string {
	if open := strings.IndexByte(k, '{'); open >= 0 && strings.IndexByte(k[open+1:], '}') > 0 {
		return h.prefix + k
	}
	return h.prefix + "{" + k + "}"
}

func (h handlerState) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	s := h.s
	if err := s.settle(ctx); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	held, ok := s.values[h.key(key)]
	ok = ok && held.live(now)
	s.wrote(ctx, !ok) // as on Redis: a value found is not what the mark owes
	if ok {
		return bytes.Clone(held.value), false, nil
	}
	v := heldValue{value: bytes.Clone(value)}
	if ttl > 0 {
		v.expires = now.Add(ttl)
	}
	s.values[h.key(key)] = v
	return bytes.Clone(value), true, nil
}

func (h handlerState) Get(ctx context.Context, key string) ([]byte, bool, error) {
	s := h.s
	if err := s.settle(ctx); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, ok := s.values[h.key(key)]
	if !ok || !held.live(s.now()) {
		return nil, false, nil
	}
	return bytes.Clone(held.value), true, nil
}

func (h handlerState) AddOnce(ctx context.Context, set, member string, at time.Time, window time.Duration) (int64, error) {
	s := h.s
	if err := s.settle(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrote(ctx, true)
	s.sweep(s.now())
	held, ok := s.sets[h.key(set)]
	if !ok {
		held = &heldSet{members: map[string]time.Time{}}
		s.sets[h.key(set)] = held
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
