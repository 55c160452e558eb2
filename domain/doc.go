// Package domain is the order pipeline's business core: value types, entities, events and
// the ports they need. Nothing under domain/ imports Watermill, Redis or AMQP, so the
// rules can be tested without I/O and moved to another transport unchanged.
//
// This package holds what every subdomain shares: the split between errors that a retry
// can fix and errors that it cannot.
package domain
