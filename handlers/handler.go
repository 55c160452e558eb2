package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/app/inbox"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
)

// Route handles one event type with a use case that returns the event to publish next,
// or nil for none.
type Route struct {
	event  string
	handle func(ctx context.Context, payload []byte) (event.Event, error)
}

// On routes events of type T to handle. T comes from handle's signature, so a use case
// method can be passed as it is: On(a.CancelOrder.OutOfStock).
func On[T event.Event](handle func(context.Context, T) (event.Event, error)) Route {
	var zero T
	return Route{
		event: zero.EventName(),
		handle: func(ctx context.Context, payload []byte) (event.Event, error) {
			e, err := event.Decode[T](payload)
			if err != nil {
				return nil, err
			}
			return handle(ctx, e)
		},
	}
}

// Handler is a typed handler: the events it consumes and what it does with each.
type Handler struct {
	routes map[string]Route
	inbox  bool
}

// WithInbox returns h with its dedup claim left to the stores (see app/inbox): its
// first store operation runs the claim with its own read, its last write commits the
// mark, and a message found handled that may have lost its publish (a redelivery)
// publishes again what its mark owes. Only for a
// handler each of whose routes reaches a store (a use case or Deps.State) before any
// other effect, such as a call to an outside service: nothing else runs the claim.
func (h Handler) WithInbox() Handler {
	h.inbox = true
	return h
}

// Inbox reports whether h was built WithInbox.
func (h Handler) Inbox() bool { return h.inbox }

// NewHandler returns a handler for the routes; it panics on two routes for one event,
// a programming error that must not reach production.
func NewHandler(routes ...Route) Handler {
	h := Handler{routes: map[string]Route{}}
	for _, r := range routes {
		if _, dup := h.routes[r.event]; dup {
			panic(fmt.Sprintf("two routes for event %s", r.event))
		}
		h.routes[r.event] = r
	}
	return h
}

// Events returns the names of the events the handler consumes, sorted.
func (h Handler) Events() []string {
	names := make([]string, 0, len(h.routes))
	for name := range h.routes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Func returns the Watermill handler function: it picks the route by the message's event
// name, runs it and publishes its event through pub before the message is acked, so
// the event is part of the handler's effect and a failed publish is retried with it.
func (h Handler) Func(pub app.EventPublisher) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		name := msg.Metadata.Get(envelope.EventNameKey)
		route, ok := h.routes[name]
		if !ok {
			return domain.Permanent(fmt.Errorf("handler %s does not consume event %q",
				message.HandlerNameFromCtx(msg.Context()), name))
		}
		next, err := route.handle(msg.Context(), msg.Payload)
		if claim := inbox.From(msg.Context()); errors.Is(err, inbox.ErrDone) && claim.MayOwe {
			// Handled before, by a delivery or attempt that may have failed between its
			// last write (which committed the mark) and its publish: publish what the mark
			// owes again (same id: dropped downstream if it got out the first time).
			owed, decodeErr := inbox.Owed(claim.Found())
			if decodeErr != nil || owed == nil {
				return errors.Join(err, decodeErr)
			}
			if pubErr := pub.Publish(msg.Context(), owed); pubErr != nil {
				return fmt.Errorf("publish %s owed by a handled message: %w", owed.EventName(), pubErr)
			}
			return err
		}
		if err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		if err := pub.Publish(msg.Context(), next); err != nil {
			return fmt.Errorf("publish %s: %w", next.EventName(), err)
		}
		return nil
	}
}
