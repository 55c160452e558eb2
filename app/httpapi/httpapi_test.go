package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/domain/event"
)

func TestReadyz_names_what_is_down(t *testing.T) {
	t.Parallel()
	checks := []httpapi.Check{
		{Name: "broker", Fn: func(context.Context) error { return nil }},
		{Name: "store", Fn: func(context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") }},
	}
	api := httpapi.New(&app.Application{}, checks, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	api.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"status": "unready", "checks": {"broker": "ok", "store": "dial tcp 127.0.0.1:6379: connection refused"}}`, rec.Body.String())
}

type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, ...event.Event) error {
	return errors.New("broker connection lost")
}

func TestPostOrders_503_with_retry_after_when_the_event_cannot_be_sent(t *testing.T) {
	t.Parallel()
	keys := memory.NewIdempotencyKeys()
	application := app.New(app.Stores{IdempotencyKeys: keys}, nil, failingPublisher{}, nil)
	api := httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	body := `{"customer_id": "c", "items": [{"sku": "S", "quantity": 1, "unit_price_cents": 1}], "currency": "USD"}`

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", "k1")
	api.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, httpapi.RetryAfterSeconds, rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), `"error"`)

	state, _, err := keys.Begin(context.Background(), "k1", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, app.KeyClaimed, state, "a key whose event was not sent is forgotten, so the client can retry")
}

func TestPostOrders_409_while_the_same_key_is_in_progress(t *testing.T) {
	t.Parallel()
	keys := memory.NewIdempotencyKeys()
	_, _, err := keys.Begin(context.Background(), "k1", time.Minute)
	require.NoError(t, err)
	api := httpapi.New(app.New(app.Stores{IdempotencyKeys: keys}, nil, failingPublisher{}, nil), nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"customer_id": "c", "items": [{"sku": "S", "quantity": 1, "unit_price_cents": 1}], "currency": "USD"}`))
	req.Header.Set("Idempotency-Key", "k1")
	api.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"error": "a request with this Idempotency-Key is in progress; retry"}`, rec.Body.String())
}
