package middleware_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/middleware"
)

const (
	inTopic     = "in"
	outTopic    = "out"
	poisonTopic = "poison"
)

// rig is one handler on a GoChannel router, behind the chain under test.
type rig struct {
	pubsub *gochannel.GoChannel
	out    <-chan *message.Message
	poison <-chan *message.Message

	mu    sync.Mutex
	calls []time.Time
}

// newRig runs handle as handler "h" on topic "in" behind Poison (to topic "poison") and
// chain; what it returns is published to "out".
func newRig(t *testing.T, handle message.HandlerFunc, chain ...message.HandlerMiddleware) *rig {
	t.Helper()
	r := &rig{pubsub: gochannel.NewGoChannel(gochannel.Config{}, nil)}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, nil)
	require.NoError(t, err)
	counted := func(msg *message.Message) ([]*message.Message, error) {
		r.mu.Lock()
		r.calls = append(r.calls, time.Now())
		r.mu.Unlock()
		return handle(msg)
	}
	poison := middleware.Poison{Publisher: r.pubsub, Topic: poisonTopic}.Middleware
	router.AddHandler("h", inTopic, r.pubsub, outTopic, r.pubsub, counted).
		AddMiddleware(append([]message.HandlerMiddleware{poison}, chain...)...)
	r.out = r.subscribe(t, outTopic)
	r.poison = r.subscribe(t, poisonTopic)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = router.Run(ctx); close(done) }()
	<-router.Running()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = r.pubsub.Close()
	})
	return r
}

func (r *rig) subscribe(t *testing.T, topic string) <-chan *message.Message {
	in, err := r.pubsub.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	out := make(chan *message.Message, 100)
	go func() {
		for m := range in {
			m.Ack()
			out <- m
		}
	}()
	return out
}

func (r *rig) publish(t *testing.T, msg *message.Message) {
	t.Helper()
	require.NoError(t, r.pubsub.Publish(inTopic, msg))
}

// callTimes returns when the handler was called.
func (r *rig) callTimes() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls...)
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// waitCalls waits until the handler was called n times.
func (r *rig) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.callTimes()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("handler called %d times, want %d", len(r.callTimes()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
