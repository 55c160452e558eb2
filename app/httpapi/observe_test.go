package httpapi_test

import (
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
)

type request struct {
	Listener, Route string
	Code            int
}

// requests records what an httpapi.Observer is told.
type requests struct {
	mu  sync.Mutex
	got []request
}

func (r *requests) ObserveRequest(listener, route string, code int, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if elapsed < 0 {
		panic("negative elapsed time")
	}
	r.got = append(r.got, request{listener, route, code})
}

func (r *requests) take() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// TestObserver_names_the_route_never_the_path: every request is observed once, under
// its listener, the pattern that serves it and its status; one no route serves is
// "unmatched", and one refused for its token keeps the route it asked for.
func TestObserver_names_the_route_never_the_path(t *testing.T) {
	t.Parallel()
	stores := app.Stores{Orders: memory.NewOrders(), Inventory: memory.NewInventory(), IdempotencyKeys: memory.NewLeases()}
	application := app.New(stores, nil, &recordingPublisher{}, nil, app.OrderIDSecret("test secret"), nil)
	observer := &requests{}
	api := httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		httpapi.Access{AdminTokens: []string{"admin-token-0123456789"}}, observer)
	public, admin := api.Public(), api.Admin()

	serve(public, http.MethodPost, "/orders", orderBody, "Content-Type", "application/json")
	serve(public, http.MethodGet, "/orders/ord-1", "")
	serve(public, http.MethodGet, "/orders/ord-2", "")
	serve(public, http.MethodGet, "/healthz", "")
	serve(public, http.MethodGet, "/no/such/path", "")
	serve(public, http.MethodDelete, "/orders/ord-1", "")
	serve(admin, http.MethodPut, "/inventory/SKU-1", `{"available": 1}`, "Content-Type", "application/json")
	serve(admin, http.MethodGet, "/readyz", "")
	assert.Equal(t, []request{
		{"public", "POST /orders", http.StatusAccepted},
		{"public", "GET /orders/{id}", http.StatusNotFound},
		{"public", "GET /orders/{id}", http.StatusNotFound},
		{"public", "GET /healthz", http.StatusOK},
		{"public", "unmatched", http.StatusNotFound},
		{"public", "unmatched", http.StatusMethodNotAllowed},
		{"admin", "PUT /inventory/{sku}", http.StatusUnauthorized},
		{"admin", "GET /readyz", http.StatusOK},
	}, observer.take())
}

// TestObserver_keeps_the_connection_close_after_a_body_over_the_limit: the recorder
// around the server's writer does not stop http.MaxBytesReader from closing the
// connection, so a client cannot stream a large body on a kept-alive connection.
func TestObserver_keeps_the_connection_close_after_a_body_over_the_limit(t *testing.T) {
	t.Parallel()
	observer := &requests{}
	application := app.New(app.Stores{IdempotencyKeys: memory.NewLeases()}, nil, &recordingPublisher{}, nil, app.OrderIDSecret("test secret"), nil)
	api := httpapi.New(application, nil, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Access{}, observer)
	server := httptest.NewServer(api.Public())
	t.Cleanup(server.Close)
	resp, err := http.Post(server.URL+"/orders", "application/json", strings.NewReader(`{"customer_id": "`+strings.Repeat("c", httpapi.MaxBodyBytes)+`"}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.True(t, resp.Close, "the server closes the connection")
	assert.Equal(t, []request{{"public", "POST /orders", http.StatusRequestEntityTooLarge}}, observer.take())
}
