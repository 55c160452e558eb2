package memory

import "time"

// sweepEvery is how often a store drops its expired entries, so that its memory is
// bounded by what is live without a scan on every call.
const sweepEvery = time.Minute

// sweeper says when a store's next sweep is due.
type sweeper struct{ next time.Time }

// due reports whether a sweep is due at now, and if so schedules the next one.
func (s *sweeper) due(now time.Time) bool {
	if now.Before(s.next) {
		return false
	}
	s.next = now.Add(sweepEvery)
	return true
}
