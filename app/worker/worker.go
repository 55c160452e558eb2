package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/app/tracing"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/inventory"
)

// Worker is the whole service: the router and the HTTP API.
type Worker struct {
	cfg     *configs.Config
	logger  *slog.Logger
	router  *message.Router
	api     *httpapi.API
	stores  app.Stores
	checks  []httpapi.Check
	metrics *Metrics
	tracer  trace.TracerProvider

	// listeners are set by Serve, which opens them before the worker exists; else Run
	// listens itself.
	listeners *Listeners

	mu        sync.Mutex
	addr      net.Addr
	adminAddr net.Addr
	started   chan struct{}
}

// New returns a worker that is not running yet; checks are those of /readyz, which
// metrics also evaluates for orderflow_ready.
func New(cfg *configs.Config, logger *slog.Logger, router *message.Router, api *httpapi.API, stores app.Stores, checks []httpapi.Check, metrics *Metrics, tracer trace.TracerProvider) *Worker {
	return &Worker{cfg: cfg, logger: logger, router: router, api: api, stores: stores, checks: checks, metrics: metrics, tracer: tracer, started: make(chan struct{})}
}

// Started is closed once the router runs and the HTTP API listens.
func (w *Worker) Started() <-chan struct{} { return w.started }

// Addr is the address the public HTTP API listens on, once Started.
func (w *Worker) Addr() net.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr
}

// AdminAddr is the address the admin HTTP API listens on, once Started.
func (w *Worker) AdminAddr() net.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.adminAddr
}

// newServer returns a server for handler whose timeouts cut slow and idle connections,
// each request a server span of the trace its traceparent header names, if any.
func (w *Worker) newServer(listener string, handler http.Handler) *http.Server {
	traced := otelhttp.NewHandler(handler, listener,
		otelhttp.WithTracerProvider(w.tracer),
		otelhttp.WithPropagators(tracing.Propagator),
		otelhttp.WithSpanNameFormatter(func(listener string, r *http.Request) string { return r.Method + " " + listener }),
	)
	return newHTTPServer(w.cfg, traced)
}

// Run seeds the stock, starts the router and the HTTP API, and blocks until ctx ends.
// Then it stops taking requests and messages, lets those in flight finish within the
// shutdown timeout, and returns nil after a clean stop.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.seed(ctx); err != nil {
		return err
	}
	if w.listeners == nil {
		public, err := listen(w.cfg.HTTP.Addr, "http.addr")
		if err != nil {
			return err
		}
		admin, err := listen(w.cfg.HTTP.AdminAddr, "http.admin_addr")
		if err != nil {
			_ = public.Close()
			return err
		}
		w.listeners = &Listeners{Public: public.next(), Admin: admin.next(), close: func() {
			_ = public.Close()
			_ = admin.Close()
		}}
	}
	defer w.listeners.close()
	listener, adminListener := w.listeners.Public, w.listeners.Admin
	server, admin := w.newServer("public", w.api.Public()), w.newServer("admin", w.api.Admin())

	routerCtx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRouter()
	routerDone := make(chan error, 1)
	go func() { routerDone <- w.router.Run(routerCtx) }()
	select {
	case <-w.router.Running():
	case err := <-routerDone:
		return fmt.Errorf("router stopped at start: %w", err)
	}

	readinessCtx, stopReadiness := context.WithCancel(ctx)
	readinessDone := make(chan struct{})
	go func() {
		w.metrics.WatchReadiness(readinessCtx, w.checks)
		close(readinessDone)
	}()
	defer func() {
		stopReadiness()
		<-readinessDone
	}()

	serverDone := make(chan error, 2)
	go func() { serverDone <- server.Serve(listener) }()
	go func() { serverDone <- admin.Serve(adminListener) }()
	w.mu.Lock()
	w.addr, w.adminAddr = listener.Addr(), adminListener.Addr()
	w.mu.Unlock()
	close(w.started)
	w.logger.Info("orderflow running", "http_addr", listener.Addr().String(), "admin_addr", adminListener.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serverDone:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-routerDone:
		runErr = errors.Join(errors.New("router stopped unexpectedly"), err)
	}
	// Everything, the drain included, ends within shutdown_timeout of the signal.
	deadline := time.Now().Add(w.cfg.ShutdownTimeout)
	if drain := min(w.cfg.DrainWindow, w.cfg.ShutdownTimeout/2); runErr == nil && drain > 0 {
		// Load balancers see /readyz fail and stop sending before the servers stop.
		w.api.Drain()
		w.logger.Info("orderflow draining", "drain_window", drain.String())
		time.Sleep(drain)
	}
	w.logger.Info("orderflow stopping", "timeout", time.Until(deadline).Round(time.Millisecond).String())
	w.shutdown(deadline, stopRouter, server, admin)
	return runErr
}

// shutdown stops the HTTP API first, so no new order is accepted, then the router, which
// waits for the messages in flight up to the shutdown timeout.
// What is not done by the deadline is cut: a request gets its connection closed, and a
// message still in a handler is not acked, so the broker hands it to another worker.
// Neither is an error of the stop, which exits 0 as asked.
func (w *Worker) shutdown(deadline time.Time, stopRouter context.CancelFunc, servers ...*http.Server) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, server := range servers {
		wg.Go(func() {
			if err := server.Shutdown(ctx); err != nil {
				w.logger.Warn("http server stopped at the shutdown deadline, requests cut", "error", err.Error())
				_ = server.Close()
			}
		})
	}
	wg.Wait()
	if err := closeWithin(time.Until(deadline), w.router.Close); err != nil {
		w.logger.Warn("router stopped at the shutdown deadline; unfinished messages go back to the broker", "error", err.Error())
	}
	stopRouter()
}

func (w *Worker) seed(ctx context.Context) error {
	stock := make(map[inventory.SKU]int64, len(w.cfg.Inventory.Seed))
	for sku, n := range w.cfg.Inventory.Seed {
		stock[inventory.SKU(sku)] = n
	}
	if err := w.stores.Inventory.Seed(ctx, stock); err != nil {
		return fmt.Errorf("seed inventory: %w", err)
	}
	return nil
}

// closeWithin runs closeFn and gives up after timeout, so shutdown never hangs.
func closeWithin(timeout time.Duration, closeFn func() error) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("not closed within %s", timeout)
	}
}
