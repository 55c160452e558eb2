// Package httpapi is the HTTP API that README.md ("HTTP API") documents, on two
// listeners: the public one places orders and reads orders, stock and notifications; the
// admin one sets stock. Both report health, readiness and metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/domain/inventory"
	"github.com/orderflow/orderflow/domain/order"
)

// MaxBodyBytes is the largest request body accepted; a larger one gets 413.
const MaxBodyBytes = 64 << 10

// RetryAfterSeconds is what a 503 asks the client to wait.
const RetryAfterSeconds = "2"

// Check is one readiness check: nil when the part it names answers.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// API serves the HTTP API.
type API struct {
	app      *app.Application
	checks   []Check
	metrics  http.Handler
	logger   *slog.Logger
	access   Access
	observer Observer
	// draining makes /readyz fail from SIGTERM on, while requests are still served.
	draining atomic.Bool
}

// Access says which bearer tokens each listener requires; none means it is open.
type Access struct {
	// APITokens are accepted on the public endpoints.
	APITokens []string
	// AdminTokens are accepted on the admin endpoints.
	AdminTokens []string
}

// MetricsHandler serves GET /metrics (the worker's is Prometheus's text format); the API
// does not depend on what produces it.
type MetricsHandler http.Handler

// New returns the API over the use cases; checks decide /readyz, metrics is what
// /metrics shows, access which tokens each listener requires, and observer (nil for
// none) is told of every request.
func New(application *app.Application, checks []Check, metrics MetricsHandler, logger *slog.Logger, access Access, observer Observer) *API {
	return &API{app: application, checks: checks, metrics: metrics, logger: logger, access: access, observer: observer}
}

// Public returns the routes of the public listener. The admin routes answer 404 here,
// the same as a path that does not exist.
func (a *API) Public() http.Handler {
	mux := newRoutes()
	mux.HandleFunc("POST /orders", a.placeOrder)
	mux.HandleFunc("GET /orders/{id}", a.getOrder)
	mux.HandleFunc("GET /inventory/{sku}", a.getStock)
	mux.HandleFunc("GET /notifications", a.listNotifications)
	mux.Handle("GET /metrics", a.metrics)
	return a.listener(ListenerPublic, a.access.APITokens, mux, "PUT /inventory/{sku}")
}

// Admin returns the routes of the admin listener: setting stock (each change logged as
// an audit line), reading it, and metrics.
func (a *API) Admin() http.Handler {
	mux := newRoutes()
	mux.HandleFunc("PUT /inventory/{sku}", a.putStock)
	mux.HandleFunc("GET /inventory/{sku}", a.getStock)
	mux.Handle("GET /metrics", a.metrics)
	return a.listener(ListenerAdmin, a.access.AdminTokens, mux)
}

// listener serves mux behind tokens, and /healthz and /readyz without a token, for load
// balancers and orchestrators; the observer, when there is one, is told of every
// request. The absent routes answer 404 whatever the token: another listener has them.
func (a *API) listener(name string, tokens []string, mux *routes, absent ...string) http.Handler {
	probes := newRoutes()
	for _, pattern := range absent {
		probes.HandleFunc(pattern, notFound)
	}
	probes.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	probes.HandleFunc("GET /readyz", a.ready)
	// Not a route of its own: a request that gets there is named by a route of mux.
	probes.ServeMux.Handle("/", requireToken(tokens, mux))
	if a.observer == nil {
		return probes
	}
	return observed(name, a.observer, probes, mux)
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "not found")
}

type placeOrderRequest struct {
	CustomerID string       `json:"customer_id"`
	Items      []event.Item `json:"items"`
	Currency   string       `json:"currency"`
}

type placeOrderResponse struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
}

func (a *API) placeOrder(w http.ResponseWriter, r *http.Request) {
	var req placeOrderRequest
	if !decodeBody(w, r, &req) {
		return
	}
	ctx := r.Context()
	if id := r.Header.Get("X-Correlation-ID"); domain.CheckIdentifier(id) == nil {
		ctx = envelope.WithCorrelationID(ctx, id)
	}
	res, err := a.app.PlaceOrder.Handle(ctx, app.PlaceOrderCommand{
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		CustomerID:     req.CustomerID,
		Items:          req.Items,
		Currency:       req.Currency,
	})
	var rule *domain.RuleError
	switch {
	case errors.As(err, &rule):
		writeError(w, http.StatusBadRequest, rule.Rule)
		return
	case errors.Is(err, app.ErrKeyReused):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case errors.Is(err, app.ErrKeyInProgress):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusConflict, err.Error()+"; retry")
		return
	case err != nil:
		a.logger.ErrorContext(ctx, "place order", "error", err)
		w.Header().Set("Retry-After", RetryAfterSeconds)
		writeError(w, http.StatusServiceUnavailable, "the order could not be accepted now; try again")
		return
	}
	if res.Unrecorded != nil {
		a.logger.WarnContext(ctx, "order accepted, its idempotency key not recorded", "order_id", res.OrderID, "error", res.Unrecorded)
	}
	status := http.StatusAccepted
	if res.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, placeOrderResponse{OrderID: res.OrderID, Status: order.Pending.String()})
}

type orderResponse struct {
	OrderID   string    `json:"order_id"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := order.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "order not found")
		return
	}
	o, err := a.app.Queries.Order(r.Context(), id)
	if errors.Is(err, order.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("order %s not found", id))
		return
	}
	if err != nil {
		a.unavailable(w, r, "get order", err)
		return
	}
	writeJSON(w, http.StatusOK, orderResponse{
		OrderID: string(o.ID()), Status: o.Status().String(), Reason: o.Reason().String(), UpdatedAt: o.UpdatedAt(),
	})
}

type stockResponse struct {
	SKU       string `json:"sku"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
}

func (a *API) getStock(w http.ResponseWriter, r *http.Request) {
	sku, err := inventory.ParseSKU(r.PathValue("sku"))
	if err != nil {
		writeError(w, http.StatusNotFound, "sku not found")
		return
	}
	a.writeStock(w, r, sku, http.StatusOK)
}

func (a *API) writeStock(w http.ResponseWriter, r *http.Request, sku inventory.SKU, status int) {
	st, err := a.app.Queries.Stock(r.Context(), sku)
	if errors.Is(err, inventory.ErrUnknownSKU) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("sku %s not found", sku))
		return
	}
	if err != nil {
		a.unavailable(w, r, "get stock", err)
		return
	}
	writeJSON(w, status, stockResponse{SKU: string(st.SKU), Available: st.Available, Reserved: st.Reserved})
}

func (a *API) putStock(w http.ResponseWriter, r *http.Request) {
	sku, err := inventory.ParseSKU(r.PathValue("sku"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "sku "+err.Error())
		return
	}
	var req struct {
		Available *int64 `json:"available"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Available == nil {
		writeError(w, http.StatusBadRequest, "available is required")
		return
	}
	before, err := a.app.Queries.SetStock(r.Context(), sku, *req.Available)
	var rule *domain.RuleError
	switch {
	case errors.As(err, &rule):
		writeError(w, http.StatusBadRequest, rule.Rule)
		return
	case err != nil:
		a.unavailable(w, r, "set stock", err)
		return
	}
	a.logger.InfoContext(r.Context(), "audit: stock set",
		"sku", string(sku), "available_before", before.Available, "available", *req.Available,
		"reserved", before.Reserved, "remote_addr", r.RemoteAddr)
	a.writeStock(w, r, sku, http.StatusOK)
}

type notificationsResponse struct {
	CustomerID    string               `json:"customer_id"`
	Notifications []notificationOutput `json:"notifications"`
}

type notificationOutput struct {
	OrderID string    `json:"order_id"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
	SentAt  time.Time `json:"sent_at"`
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) {
	customerID := r.URL.Query().Get("customer_id")
	if customerID == "" {
		writeError(w, http.StatusBadRequest, "customer_id query parameter is required")
		return
	}
	if err := domain.CheckIdentifier(customerID); err != nil {
		writeError(w, http.StatusBadRequest, "customer_id "+err.Error())
		return
	}
	list, err := a.app.Queries.Notifications(r.Context(), customerID)
	if err != nil {
		a.unavailable(w, r, "list notifications", err)
		return
	}
	out := notificationsResponse{CustomerID: customerID, Notifications: make([]notificationOutput, len(list))}
	for i, n := range list {
		out.Notifications[i] = notificationOutput{OrderID: n.OrderID, Status: n.Status, Message: n.Message, SentAt: n.SentAt}
	}
	writeJSON(w, http.StatusOK, out)
}

// ReadyTimeout bounds one evaluation of the readiness checks.
const ReadyTimeout = 2 * time.Second

// Ready runs every check within ReadyTimeout and reports whether all answered, with each
// check's answer ("ok" or its error), as /readyz shows them.
func Ready(ctx context.Context, checks []Check) (bool, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	answers := make(map[string]string, len(checks))
	ready := true
	for _, c := range checks {
		if err := c.Fn(ctx); err != nil {
			answers[c.Name] = err.Error()
			ready = false
			continue
		}
		answers[c.Name] = "ok"
	}
	return ready, answers
}

// Drain makes /readyz answer 503 from now on, so load balancers stop sending requests
// before the server stops taking them.
func (a *API) Drain() { a.draining.Store(true) }

func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining", "checks": map[string]string{}})
		return
	}
	ready, checks := Ready(r.Context(), a.checks)
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unready", "checks": checks})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

func (a *API) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.logger.ErrorContext(r.Context(), what, "error", err)
	w.Header().Set("Retry-After", RetryAfterSeconds)
	writeError(w, http.StatusServiceUnavailable, what+" failed; try again")
}

// decodeBody reads a body of exactly one JSON object of at most MaxBodyBytes into dst,
// or answers 415, 413 or 400.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	r.Body = http.MaxBytesReader(serverWriter(w), r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(dst)
	if err == nil {
		// Past the object: the end, or more data, which is an error unless the body
		// was too large to read (413 then).
		if rest := dec.Decode(&json.RawMessage{}); rest != io.EOF {
			err = errors.New("data after the JSON object")
			var tooLarge *http.MaxBytesError
			if errors.As(rest, &tooLarge) {
				err = rest
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
