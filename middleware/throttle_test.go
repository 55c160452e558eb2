package middleware_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/middleware"
)

func TestThrottle_burst_then_rate(t *testing.T) {
	t.Parallel()
	throttle, err := middleware.NewThrottle(middleware.Throttle{PerSecond: 2, Burst: 4})
	require.NoError(t, err)
	r := newRig(t, func(*message.Message) ([]*message.Message, error) { return nil, nil }, throttle)
	start := time.Now()
	for i := range 7 {
		r.publish(t, message.NewMessage(fmt.Sprintf("m%d", i), nil))
	}
	r.waitCalls(t, 4)
	r.waitCalls(t, 7)
	calls := r.callTimes()
	// The burst of 4 spends the bucket; each later message waits for a token at 2/s.
	assert.GreaterOrEqual(t, calls[4].Sub(start), 450*time.Millisecond, "5th message waits for a token")
	assert.GreaterOrEqual(t, calls[6].Sub(start), 1450*time.Millisecond, "7th message waits for its token")
}

func TestThrottle_each_handler_has_its_own_bucket(t *testing.T) {
	t.Parallel()
	spec := middleware.Throttle{PerSecond: 0.5, Burst: 2}
	a, err := middleware.NewThrottle(spec)
	require.NoError(t, err)
	b, err := middleware.NewThrottle(spec)
	require.NoError(t, err)
	ra := newRig(t, func(*message.Message) ([]*message.Message, error) { return nil, nil }, a)
	rb := newRig(t, func(*message.Message) ([]*message.Message, error) { return nil, nil }, b)
	for i := range 2 {
		ra.publish(t, message.NewMessage(fmt.Sprintf("a%d", i), nil))
		rb.publish(t, message.NewMessage(fmt.Sprintf("b%d", i), nil))
	}
	ra.waitCalls(t, 2)
	rb.waitCalls(t, 2) // with one shared bucket, b would wait 2s per message
}

func TestNewThrottle_config(t *testing.T) {
	t.Parallel()
	none, err := middleware.NewThrottle(middleware.Throttle{})
	require.NoError(t, err)
	assert.Nil(t, none, "per_second 0 is no limit")
	_, err = middleware.NewThrottle(middleware.Throttle{PerSecond: 5, Burst: 0})
	assert.EqualError(t, err, "throttle: per_second must be >= 0 and burst >= 1, got 5 and 0")
}

func TestThrottle_reports_each_wait(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var waits []time.Duration
	throttle, err := middleware.NewThrottle(middleware.Throttle{PerSecond: 4, Burst: 1, OnWait: func(handler string, waited time.Duration) {
		assert.Equal(t, "h", handler)
		mu.Lock()
		waits = append(waits, waited)
		mu.Unlock()
	}})
	require.NoError(t, err)
	r := newRig(t, func(*message.Message) ([]*message.Message, error) { return nil, nil }, throttle)
	r.publish(t, message.NewMessage("m0", nil))
	r.waitCalls(t, 1)
	r.publish(t, message.NewMessage("m1", nil))
	r.waitCalls(t, 2)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, waits, 2)
	assert.Less(t, waits[0], 50*time.Millisecond, "the burst's token is there")
	assert.Greater(t, waits[1], 150*time.Millisecond, "the next token comes at 4/s")
}
