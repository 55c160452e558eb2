package tests

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

func validOrder() map[string]any {
	return map[string]any{
		"customer_id": "cust-42",
		"items":       []map[string]any{{"sku": "SKU-RED", "quantity": 2, "unit_price_cents": 1999}},
		"currency":    "USD",
	}
}

func TestHTTP_every_entry_rule_gets_400_naming_it(t *testing.T) {
	t.Parallel()
	w := Start(t, nil, handlers.Table())
	c := NewClient(w.URL())
	placed := w.Subscribe(t, event.OrderPlacedName)
	item := func(sku string, quantity, price int64) []map[string]any {
		return []map[string]any{{"sku": sku, "quantity": quantity, "unit_price_cents": price}}
	}
	many := make([]map[string]any, 101)
	for i := range many {
		many[i] = map[string]any{"sku": "SKU-RED", "quantity": 1, "unit_price_cents": 1}
	}
	tests := []struct {
		Name  string
		Field string
		Value any
		Rule  string
	}{
		{"no customer", "customer_id", "", "customer_id " + domain.IdentifierRule},
		{"customer too long", "customer_id", strings.Repeat("c", 65), "customer_id " + domain.IdentifierRule},
		{"customer bad character", "customer_id", "cust 42", "customer_id " + domain.IdentifierRule},
		{"no items", "items", []any{}, "items must hold 1..100 items"},
		{"101 items", "items", many, "items must hold 1..100 items"},
		{"bad sku", "items", item("SKU/RED", 1, 1), "items[0].sku " + domain.IdentifierRule},
		{"empty sku", "items", item("", 1, 1), "items[0].sku " + domain.IdentifierRule},
		{"quantity 0", "items", item("SKU-RED", 0, 1), "items[0].quantity must be 1..1000"},
		{"quantity 1001", "items", item("SKU-RED", 1001, 1), "items[0].quantity must be 1..1000"},
		{"negative price", "items", item("SKU-RED", 1, -1), "items[0].unit_price_cents must be >= 0"},
		{"lower-case currency", "currency", "usd", "currency must be three upper-case letters"},
		{"no currency", "currency", "", "currency must be three upper-case letters"},
		{"overflowing total", "items", item("SKU-RED", 1000, 1<<61), "total_cents overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			body := validOrder()
			body[tt.Field] = tt.Value
			r := c.Must(t, http.MethodPost, "/orders", body)
			assert.Equal(t, http.StatusBadRequest, r.Status)
			assert.JSONEq(t, `{"error": "`+tt.Rule+`"}`, string(r.Body))
		})
	}
	for _, body := range []string{"not json", `{"customer_id": 42}`, `{"items": [{"quantity": "2"}]}`} {
		r := c.Must(t, http.MethodPost, "/orders", body)
		assert.Equal(t, http.StatusBadRequest, r.Status, body)
		assert.Contains(t, string(r.Body), "body is not valid JSON", body)
	}
	assert.Empty(t, placed, "no event for a refused order")
}

func TestHTTP_place_and_read_an_order(t *testing.T) {
	t.Parallel()
	w := Start(t, nil, handlers.Table())
	c := NewClient(w.URL())
	r := c.Must(t, http.MethodPost, "/orders", validOrder())
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var placed struct {
		OrderID string `json:"order_id"`
		Status  string `json:"status"`
	}
	r.JSON(t, &placed)
	assert.Equal(t, "pending", placed.Status)
	assert.NoError(t, domain.CheckIdentifier(placed.OrderID))

	view := awaitStatus(t, c, placed.OrderID, "confirmed", 5*time.Second)
	assert.Equal(t, placed.OrderID, view.OrderID)
	assert.Empty(t, view.Reason)
	assert.False(t, view.UpdatedAt.IsZero())

	assert.Equal(t, StockView{SKU: "SKU-RED", Available: 98}, stock(t, c, "SKU-RED"))
}

func TestHTTP_idempotency_key_gives_same_answer_and_one_event(t *testing.T) {
	t.Parallel()
	for _, env := range Envs() {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			idempotencyKey(t, env)
		})
	}
}

func idempotencyKey(t *testing.T, env Env) {
	w := env.Start(t, nil, handlers.Table())
	c := NewClient(w.URL())
	placed := w.Tap.Subscribe(t, event.OrderPlacedName)

	first := c.Must(t, http.MethodPost, "/orders", validOrder(), "Idempotency-Key", "key-1")
	require.Equal(t, http.StatusAccepted, first.Status)
	second := c.Must(t, http.MethodPost, "/orders", validOrder(), "Idempotency-Key", "key-1")
	assert.Equal(t, http.StatusOK, second.Status)
	assert.JSONEq(t, string(first.Body), string(second.Body))
	other := c.Must(t, http.MethodPost, "/orders", validOrder(), "Idempotency-Key", "key-2")
	assert.Equal(t, http.StatusAccepted, other.Status)
	assert.NotEqual(t, string(first.Body), string(other.Body))

	Receive(t, placed)
	Receive(t, placed)
	// Both events are in: a third would have been published before the answers above.
	assert.Empty(t, placed, "the replayed key published nothing")
}

func TestHTTP_errors(t *testing.T) {
	t.Parallel()
	w := Start(t, nil, handlers.Table())
	c := NewClient(w.URL())

	big := `{"customer_id": "` + strings.Repeat("x", 70<<10) + `"}`
	r := c.Must(t, http.MethodPost, "/orders", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Contains(t, string(r.Body), `"error"`)

	r = c.Must(t, http.MethodGet, "/orders/ord-unknown", nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.JSONEq(t, `{"error": "order ord-unknown not found"}`, string(r.Body))

	r = c.Must(t, http.MethodGet, "/inventory/SKU-NONE", nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.JSONEq(t, `{"error": "sku SKU-NONE not found"}`, string(r.Body))

	r = c.Must(t, http.MethodPut, "/inventory/SKU-NEW", map[string]any{"available": 7})
	assert.Equal(t, http.StatusNotFound, r.Status, "setting stock is for the admin listener")
	admin := NewClient(w.AdminURL())
	r = admin.Must(t, http.MethodPut, "/inventory/SKU-NEW", map[string]any{"available": -1})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = admin.Must(t, http.MethodPut, "/inventory/SKU-NEW", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = admin.Must(t, http.MethodPut, "/inventory/SKU-NEW", map[string]any{"available": 7})
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, StockView{SKU: "SKU-NEW", Available: 7}, stock(t, c, "SKU-NEW"))

	r = c.Must(t, http.MethodGet, "/notifications", nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = c.Must(t, http.MethodGet, "/notifications?customer_id=nobody", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.JSONEq(t, `{"customer_id": "nobody", "notifications": []}`, string(r.Body))
}

func TestHTTP_health_and_readiness(t *testing.T) {
	t.Parallel()
	w := Start(t, nil, handlers.Table())
	c := NewClient(w.URL())
	r := c.Must(t, http.MethodGet, "/healthz", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	r = c.Must(t, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.JSONEq(t, `{"status": "ready", "checks": {"broker": "ok", "store": "ok", "router": "ok"}}`, string(r.Body))
}

// TestHTTP_slow_and_idle_connections_are_cut: a body trickled in slower than
// http.read_timeout, and a keep-alive connection idle past http.idle_timeout, are closed
// by the server instead of held.
func TestHTTP_slow_and_idle_connections_are_cut(t *testing.T) {
	t.Parallel()
	cfg := TestConfig()
	cfg.HTTP.ReadTimeout = 300 * time.Millisecond
	cfg.HTTP.IdleTimeout = 300 * time.Millisecond
	w := Start(t, cfg, handlers.Table())

	closedBy := func(t *testing.T, conn net.Conn, trickle bool) error {
		t.Helper()
		// The client would wait 10 s; the server must give up long before.
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		if trickle {
			go func() {
				for range 20 {
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
		}
		_, err := io.ReadAll(conn)
		// The server cuts the connection: an end of stream, or a reset when bytes it
		// never read were still in flight. Only the client's own deadline is a failure.
		var timeout net.Error
		if errors.As(err, &timeout) && timeout.Timeout() {
			return err
		}
		return nil
	}

	slow, err := net.Dial("tcp", w.Worker.Addr().String())
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	require.NoError(t, err)
	assert.NoError(t, closedBy(t, slow, true), "the server closed the trickling connection (a client timeout would be an error)")

	idle, err := net.Dial("tcp", w.Worker.Addr().String())
	require.NoError(t, err)
	defer idle.Close()
	_, err = io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	assert.NoError(t, closedBy(t, idle, false), "the server closed the idle keep-alive connection")
}
