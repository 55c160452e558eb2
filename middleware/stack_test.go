package middleware_test

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/middleware"
)

func TestGrowStack_hands_the_message_and_the_results_through(t *testing.T) {
	t.Parallel()
	out := []*message.Message{message.NewMessage("out", nil)}
	failed := errors.New("failed")
	handler := middleware.GrowStack(func(msg *message.Message) ([]*message.Message, error) {
		assert.Equal(t, "in", msg.UUID)
		return out, failed
	})
	produced, err := handler(message.NewMessage("in", nil))
	assert.Equal(t, out, produced)
	assert.ErrorIs(t, err, failed)
}

// Not parallel: it reads the process's stack memory while goroutines wait inside the
// stage. A new goroutine's stack starts at a few KiB here; grown, each is 16 KiB.
func TestGrowStack_grows_the_stack_of_each_message_goroutine(t *testing.T) {
	const goroutines = 64
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var entered sync.WaitGroup
	entered.Add(goroutines)
	release := make(chan struct{})
	handler := middleware.GrowStack(func(*message.Message) ([]*message.Message, error) {
		entered.Done()
		<-release
		return nil, nil
	})
	var done sync.WaitGroup
	for range goroutines {
		done.Go(func() { _, _ = handler(message.NewMessage("m", nil)) })
	}
	entered.Wait()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	close(release)
	done.Wait()
	require.Greater(t, during.StackInuse, before.StackInuse)
	assert.GreaterOrEqual(t, during.StackInuse-before.StackInuse, uint64(goroutines*12<<10),
		"each waiting goroutine holds a grown stack")
}

func BenchmarkGrowStack(b *testing.B) {
	deep := func(*message.Message) ([]*message.Message, error) { return nil, descend(40) }
	for _, c := range []struct {
		name    string
		handler message.HandlerFunc
	}{{"as-started", deep}, {"grown", middleware.GrowStack(deep)}} {
		b.Run(c.name, func(b *testing.B) {
			msg := message.NewMessage("m", nil)
			var wg sync.WaitGroup
			for b.Loop() {
				wg.Go(func() { _, _ = c.handler(msg) })
				wg.Wait()
			}
		})
	}
}

// descend uses about 40 frames of 160 bytes, as a chain of stages and a JSON decoder
// do.
//
//go:noinline
func descend(n int) error {
	var frame [128]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return nil
	}
	if err := descend(n - 1); err != nil || frame[0] == 255 {
		return errors.New("unreachable")
	}
	return nil
}
