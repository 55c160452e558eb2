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
	api := httpapi.New(&app.Application{}, checks, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Access{}, nil)
	rec := httptest.NewRecorder()
	api.Public().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
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
	application := app.New(app.Stores{IdempotencyKeys: keys}, nil, failingPublisher{}, nil, nil, nil)
	api := httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Access{}, nil)
	body := `{"customer_id": "c", "items": [{"sku": "S", "quantity": 1, "unit_price_cents": 1}], "currency": "USD"}`

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "k1")
	api.Public().ServeHTTP(rec, req)
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
	api.Public().ServeHTTP(rec, req)
	return rec
}

func newAPI(publisher app.EventPublisher) *httpapi.API {
	application := app.New(app.Stores{IdempotencyKeys: memory.NewLeases()}, nil, publisher, nil, app.OrderIDSecret("test secret"), nil)
	return httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Access{}, nil)
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

// newStockAPI is an API on memory stores that logs into logs.
func newStockAPI(access httpapi.Access, logs io.Writer) *httpapi.API {
	stores := app.Stores{
		Inventory: memory.NewInventory(), Notifications: memory.NewNotifications(), IdempotencyKeys: memory.NewLeases(),
	}
	application := app.New(stores, nil, &recordingPublisher{}, nil, app.OrderIDSecret("test secret"), nil)
	return httpapi.New(application, nil, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "# metrics\n")
	}), slog.New(slog.NewJSONHandler(logs, nil)), access, nil)
}

func serve(h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPostOrders_takes_one_json_object_only(t *testing.T) {
	t.Parallel()
	publisher := &recordingPublisher{}
	api := newAPI(publisher).Public()
	for name, contentType := range map[string]string{"none": "", "form": "application/x-www-form-urlencoded", "text": "text/plain"} {
		rec := serve(api, http.MethodPost, "/orders", orderBody, "Content-Type", contentType)
		assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code, name)
		assert.JSONEq(t, `{"error": "Content-Type must be application/json"}`, rec.Body.String(), name)
	}
	rec := serve(api, http.MethodPost, "/orders", orderBody+` {"customer_id": "second"}`, "Content-Type", "application/json")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "data after the JSON object")
	assert.Zero(t, publisher.count(), "nothing published for a refused body")

	rec = serve(api, http.MethodPost, "/orders", orderBody+strings.Repeat(" ", httpapi.MaxBodyBytes), "Content-Type", "application/json")
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "a body over the limit is 413, whatever comes first")

	rec = serve(api, http.MethodPost, "/orders", orderBody+"\n", "Content-Type", "application/json; charset=utf-8")
	assert.Equal(t, http.StatusAccepted, rec.Code, "a trailing newline and a charset are fine")
}

func TestAPI_tokens_guard_everything_but_the_probes(t *testing.T) {
	t.Parallel()
	access := httpapi.Access{APITokens: []string{"public-token-0001", "public-token-0002"}, AdminTokens: []string{"admin-token-00001"}}
	api := newStockAPI(access, io.Discard)
	for _, listener := range []struct {
		name    string
		handler http.Handler
		token   string
		path    string
	}{
		{"public", api.Public(), "public-token-0002", "/notifications?customer_id=c1"},
		{"admin", api.Admin(), "admin-token-00001", "/metrics"},
	} {
		h := listener.handler
		for _, header := range []string{"", "Bearer", "Bearer wrong-token-000000", "Basic " + listener.token, "Bearer " + listener.token + "x"} {
			rec := serve(h, http.MethodGet, listener.path, "", "Authorization", header)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %q", listener.name, header)
			assert.Equal(t, `Bearer realm="orderflow"`, rec.Header().Get("WWW-Authenticate"))
		}
		assert.Equal(t, http.StatusOK, serve(h, http.MethodGet, listener.path, "", "Authorization", "Bearer "+listener.token).Code, listener.name)
		assert.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/healthz", "").Code, "%s: probes need no token", listener.name)
		assert.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/readyz", "").Code, listener.name)
	}
	assert.Equal(t, http.StatusUnauthorized, serve(api.Admin(), http.MethodGet, "/metrics", "", "Authorization", "Bearer public-token-0001").Code,
		"a public token does not open the admin listener")
	assert.Equal(t, http.StatusNotFound, serve(api.Public(), http.MethodPut, "/inventory/SKU-RED", `{"available": 1}`, "Content-Type", "application/json").Code,
		"the public listener has no PUT /inventory, token or not")
}

func TestPutStock_is_admin_only_bounded_and_audited(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	api := newStockAPI(httpapi.Access{}, &logs)
	public, admin := api.Public(), api.Admin()
	put := func(h http.Handler, body string) *httptest.ResponseRecorder {
		return serve(h, http.MethodPut, "/inventory/SKU-NEW", body, "Content-Type", "application/json")
	}

	rec := put(public, `{"available": 7}`)
	assert.Equal(t, http.StatusNotFound, rec.Code, "the public listener does not know PUT /inventory")
	assert.Equal(t, http.StatusNotFound, serve(public, http.MethodGet, "/inventory/SKU-NEW", "").Code, "and changed nothing")

	rec = put(admin, `{"available": 7}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"sku": "SKU-NEW", "available": 7, "reserved": 0}`, rec.Body.String())
	for _, body := range []string{`{"available": -1}`, `{"available": 1000000001}`, `{"available": 9223372036854775807}`} {
		rec = put(admin, body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, body)
		assert.JSONEq(t, `{"error": "available must be an integer 0..1000000000, got `+strings.TrimSuffix(strings.TrimPrefix(body, `{"available": `), "}")+`"}`, rec.Body.String())
	}
	assert.Equal(t, http.StatusBadRequest, put(admin, `{}`).Code)
	assert.Equal(t, http.StatusOK, put(admin, `{"available": 1000000000}`).Code, "the bound itself is allowed")
	assert.JSONEq(t, `{"sku": "SKU-NEW", "available": 1000000000, "reserved": 0}`, serve(public, http.MethodGet, "/inventory/SKU-NEW", "").Body.String(),
		"refused changes changed nothing")

	audit := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"msg":"audit: stock set"`) {
			audit++
			assert.Contains(t, line, `"sku":"SKU-NEW"`)
			assert.Contains(t, line, `"remote_addr"`)
		}
	}
	assert.Equal(t, 2, audit, "one audit line per change made, none for a refused one")
	assert.Contains(t, logs.String(), `"available_before":7,"available":1000000000`)
}

func TestNotifications_customer_id_is_validated(t *testing.T) {
	t.Parallel()
	api := newStockAPI(httpapi.Access{}, io.Discard).Public()
	rec := serve(api, http.MethodGet, "/notifications?customer_id=%1b%5B2J", "")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "customer_id ")
	assert.Equal(t, http.StatusOK, serve(api, http.MethodGet, "/notifications?customer_id=cust-1", "").Code)
}
