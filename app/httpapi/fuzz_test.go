package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/domain/event"
)

// fuzzPublisher keeps what the API published.
type fuzzPublisher struct {
	mu     sync.Mutex
	events []event.Event
}

func (p *fuzzPublisher) Publish(_ context.Context, events ...event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, events...)
	return nil
}

func (p *fuzzPublisher) published() []event.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]event.Event(nil), p.events...)
}

// fuzzAPI is the API on in-memory stores, publishing to publisher. It is the one place
// the fuzz target builds the API, so a change of httpapi.New changes only this.
func fuzzAPI(publisher app.EventPublisher) http.Handler {
	stores := app.Stores{
		Orders:          memory.NewOrders(),
		Inventory:       memory.NewInventory(),
		Payments:        memory.NewPayments(),
		Notifications:   memory.NewNotifications(),
		IdempotencyKeys: memory.NewLeases(),
	}
	application := app.New(stores, nil, publisher, nil, app.OrderIDSecret("fuzz secret"), nil)
	return httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.DiscardHandler), httpapi.Access{}, nil).Public()
}

// FuzzPostOrders sends POST /orders any body, Content-Type and Idempotency-Key. The API
// never panics and always answers JSON: a 2xx is {"order_id", "status": "pending"} for an
// order.placed it published (202), one that validates and carries that id, or for one it
// published before (200, nothing new); anything else is a 4xx or 5xx with an error and
// publishes nothing; a 413 only for a body over the limit. A 202 with a key, repeated,
// is the same answer with 200 and no second event.
func FuzzPostOrders(f *testing.F) {
	// More seeds, valid and nasty, are in testdata/fuzz/FuzzPostOrders.
	f.Add([]byte(orderBody), "application/json", "")
	f.Add([]byte(orderBody), "application/json", "key-1")
	f.Fuzz(func(t *testing.T, body []byte, contentType, key string) {
		publisher := &fuzzPublisher{}
		api := fuzzAPI(publisher)
		status, answer := fuzzPost(t, api, body, contentType, key)
		published := publisher.published()
		switch {
		case status == http.StatusAccepted:
			require.Len(t, published, 1, "a 202 published one event")
			placed, ok := published[0].(event.OrderPlaced)
			require.True(t, ok, "a 202 published order.placed, not %T", published[0])
			_, err := placed.Validate()
			require.NoError(t, err, "what the API publishes validates: %+v", placed)
			require.Equal(t, placed.OrderID, answer["order_id"])
			require.Equal(t, "pending", answer["status"])
			mediaType, _, err := mime.ParseMediaType(contentType)
			require.NoError(t, err, "a 202 came with a Content-Type")
			require.Equal(t, "application/json", mediaType, "only JSON bodies are accepted")
		case status == http.StatusOK:
			t.Fatalf("a first request with a key is never a replay: %v", answer)
		case status >= 400 && status < 600:
			require.Empty(t, published, "a %d publishes nothing", status)
			msg, _ := answer["error"].(string)
			require.NotEmpty(t, msg, "a %d names the error: %v", status, answer)
			if status == http.StatusRequestEntityTooLarge {
				require.Greater(t, len(body), httpapi.MaxBodyBytes)
			}
		default:
			t.Fatalf("status %d: every answer is 2xx, 4xx or 5xx", status)
		}
		if status != http.StatusAccepted || key == "" {
			return
		}
		again, repeated := fuzzPost(t, api, body, contentType, key)
		require.Equal(t, http.StatusOK, again, "the same key and body again: %v", repeated)
		require.Equal(t, answer, repeated)
		require.Len(t, publisher.published(), 1, "a repeat publishes nothing")
	})
}

// fuzzPost posts body and returns the status and the JSON object answered.
func fuzzPost(t *testing.T, api http.Handler, body []byte, contentType, key string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "status %d", rec.Code)
	raw, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	var answer map[string]any
	require.NoError(t, json.Unmarshal(raw, &answer), "status %d answered %q, not a JSON object", rec.Code, raw)
	return rec.Code, answer
}
