package app

import (
	"context"

	"github.com/orderflow/orderflow/app/inbox"
)

// alongside starts call now, next to the store call that carries the message's dedup
// claim, and returns a wait for its result: the order waits for one round trip, not two.
// call gets a context without the claim (inbox.Without), since it runs before the claim
// says whether this attempt owns the message; it must change nothing when run for a
// duplicate. Every caller waits, so call never outlives the handler.
func alongside[T any](ctx context.Context, call func(context.Context) (T, error)) (wait func() (T, error)) {
	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call(inbox.Without(ctx))
		done <- result{v, err}
	}()
	return func() (T, error) {
		r := <-done
		return r.value, r.err
	}
}
