package middleware_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/middleware"
)

func TestCorrelation_on_returned_messages(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(msg *message.Message) ([]*message.Message, error) {
		handled, ok := envelope.HandledFrom(msg.Context())
		require.True(t, ok)
		assert.Equal(t, "m1", handled.MessageID)
		assert.Equal(t, "h", handled.Handler)
		assert.Equal(t, "corr-1", envelope.CorrelationIDFrom(msg.Context()))
		return []*message.Message{message.NewMessage("out-1", nil)}, nil
	}, middleware.Correlation)
	in := message.NewMessage("m1", nil)
	in.Metadata.Set(envelope.CorrelationIDKey, "corr-1")
	r.publish(t, in)
	out := receive(t, r.out)
	assert.Equal(t, "corr-1", out.Metadata.Get(envelope.CorrelationIDKey))
	assert.Equal(t, "m1", out.Metadata.Get(envelope.CausationIDKey))
}

func TestCorrelation_created_when_absent(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(*message.Message) ([]*message.Message, error) {
		return []*message.Message{message.NewMessage("out-1", nil)}, nil
	}, middleware.Correlation)
	r.publish(t, message.NewMessage("m1", nil))
	out := receive(t, r.out)
	assert.Len(t, out.Metadata.Get(envelope.CorrelationIDKey), 36, "a new UUID")
}

// syncBuffer is a log sink the handler goroutines can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

func TestLogging_every_line_names_the_message(t *testing.T) {
	t.Parallel()
	var sink syncBuffer
	logger := slog.New(slog.NewJSONHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRig(t, func(msg *message.Message) ([]*message.Message, error) {
		middleware.LoggerFrom(msg.Context(), nil).Info("reserving")
		return []*message.Message{message.NewMessage("out-1", nil)}, nil
	}, middleware.Correlation, middleware.Logging{Logger: logger}.Middleware)
	in := message.NewMessage("m1", nil)
	in.Metadata.Set(envelope.CorrelationIDKey, "corr-1")
	in.Metadata.Set(envelope.CausationIDKey, "cause-0")
	in.Metadata.Set(envelope.EventNameKey, "order.placed")
	r.publish(t, in)
	receive(t, r.out)

	lines := sink.lines()
	require.Len(t, lines, 2, "the handler's line and the outcome")
	for _, line := range lines {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry))
		assert.Equal(t, "h", entry["handler"], line)
		assert.Equal(t, "m1", entry["message_id"], line)
		assert.Equal(t, "corr-1", entry["correlation_id"], line)
		assert.Equal(t, "cause-0", entry["causation_id"], line)
		assert.Equal(t, "order.placed", entry["event"], line)
	}
}
