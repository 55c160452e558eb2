package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/app/lease"
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
	keys := memory.NewLeases()
	application := app.New(app.Stores{IdempotencyKeys: keys}, nil, failingPublisher{}, nil, nil)
	api := httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	body := `{"customer_id": "c", "items": [{"sku": "S", "quantity": 1, "unit_price_cents": 1}], "currency": "USD"}`

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", "k1")
	api.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, httpapi.RetryAfterSeconds, rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), `"error"`)

	state, _, err := keys.Claim(context.Background(), "k1", "probe", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, lease.Claimed, state, "a key whose event was not sent is released, so the client can retry")
}

// recordingPublisher keeps what it was asked to publish.
type recordingPublisher struct {
	mu      sync.Mutex
	events  []event.Event
	block   chan struct{} // when set, Publish says so on entered, then waits for it
	entered chan struct{}
}

func (p *recordingPublisher) Publish(_ context.Context, events ...event.Event) error {
	if p.block != nil {
		p.entered <- struct{}{}
		<-p.block
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, events...)
	return nil
}

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

const orderBody = `{"customer_id": "c", "items": [{"sku": "S", "quantity": 1, "unit_price_cents": 1}], "currency": "USD"}`

func post(api *httpapi.API, key, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	api.Handler().ServeHTTP(rec, req)
	return rec
}

func newAPI(publisher app.EventPublisher) *httpapi.API {
	application := app.New(app.Stores{IdempotencyKeys: memory.NewLeases()}, nil, publisher, nil, app.OrderIDSecret("test secret"))
	return httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestPostOrders_409_while_the_same_key_is_in_progress(t *testing.T) {
	t.Parallel()
	publisher := &recordingPublisher{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	api := newAPI(publisher)
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- post(api, "k1", orderBody) }()
	<-publisher.entered // the first request holds the key and is publishing

	rec := post(api, "k1", orderBody)
	assert.Equal(t, http.StatusConflict, rec.Code, "a repeat while the first is served")
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"error": "a request with this Idempotency-Key is in progress; retry"}`, rec.Body.String())

	close(publisher.block)
	assert.Equal(t, http.StatusAccepted, (<-first).Code)
	again := post(api, "k1", orderBody)
	assert.Equal(t, http.StatusOK, again.Code)
	assert.Equal(t, 1, publisher.count(), "one event for the key")
}

func TestPostOrders_422_when_a_key_comes_back_with_another_order(t *testing.T) {
	t.Parallel()
	publisher := &recordingPublisher{}
	api := newAPI(publisher)
	first := post(api, "k1", orderBody)
	require.Equal(t, http.StatusAccepted, first.Code)

	other := strings.Replace(orderBody, `"customer_id": "c"`, `"customer_id": "mallory"`, 1)
	rec := post(api, "k1", other)
	assert.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	assert.JSONEq(t, `{"error": "this Idempotency-Key was used for a different order"}`, rec.Body.String())
	assert.Equal(t, 1, publisher.count(), "the second body changed nothing")

	respaced := post(api, "k1", strings.ReplaceAll(orderBody, " ", ""))
	assert.Equal(t, http.StatusOK, respaced.Code, "the same order in other spacing is the same request")
	assert.JSONEq(t, first.Body.String(), respaced.Body.String())
}

func TestPostOrders_400_on_a_bad_idempotency_key(t *testing.T) {
	t.Parallel()
	publisher := &recordingPublisher{}
	api := newAPI(publisher)
	for name, key := range map[string]string{
		"too long":     strings.Repeat("k", app.MaxIdempotencyKeyLen+1),
		"control byte": "k\x1b[31m",
		"not ascii":    "clé",
		"tab":          "a\tb",
	} {
		rec := post(api, key, orderBody)
		assert.Equal(t, http.StatusBadRequest, rec.Code, name)
		assert.Contains(t, rec.Body.String(), "Idempotency-Key must be", name)
	}
	assert.Zero(t, publisher.count())
	assert.Equal(t, http.StatusAccepted, post(api, strings.Repeat("k", app.MaxIdempotencyKeyLen), orderBody).Code, "255 characters is the limit")
}
