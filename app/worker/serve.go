package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/orderflow/orderflow/app/signing"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain"
)

// Builder builds a worker: it connects to the broker and the stores, and fails with a
// domain.ErrUnavailable error while one of them does not answer.
type Builder func() (*Worker, func(), error)

// Serve runs the service as `orderflow run` does. It listens at once; while build cannot
// reach the broker or the stores it answers /healthz (200) and /readyz (503, naming what
// it waits for) and tries again with backoff, so a worker started before its broker
// comes up by itself instead of exiting. Any other error of build ends Serve at once.
// Once built, the worker serves on the same listeners until ctx ends.
func Serve(ctx context.Context, cfg *configs.Config, logger *slog.Logger, build Builder) error {
	RouteLibraryLogs(logger)
	// A key or token file that is wrong must stop start-up at once, not wait with the
	// worker for a broker that is down.
	if err := checkSecretFiles(cfg); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	public, err := listen(cfg.HTTP.Addr, "http.addr")
	if err != nil {
		return err
	}
	admin, err := listen(cfg.HTTP.AdminAddr, "http.admin_addr")
	if err != nil {
		_ = public.Close()
		return err
	}
	waiting := &startingHandler{}
	servers := []*http.Server{newHTTPServer(cfg, waiting), newHTTPServer(cfg, waiting)}
	listeners := []*handoff{public, admin}
	for i, s := range servers {
		go func() { _ = s.Serve(listeners[i].next()) }()
	}
	stopWaiting := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, s := range servers {
			if s.Shutdown(ctx) != nil {
				_ = s.Close()
			}
		}
	}

	w, cleanup, err := buildWhenReachable(ctx, logger, build, waiting)
	stopWaiting()
	if err != nil {
		_ = public.Close()
		_ = admin.Close()
		if errors.Is(err, context.Canceled) {
			logger.Info("orderflow stopped before it could start")
			return nil
		}
		return err
	}
	defer cleanup()
	w.listeners = &Listeners{Public: public.next(), Admin: admin.next(), close: func() {
		_ = public.Close()
		_ = admin.Close()
	}}
	return w.Run(ctx)
}

// buildWhenReachable calls build until it succeeds, fails for a reason other than an
// unavailable dependency, or ctx ends.
func buildWhenReachable(ctx context.Context, logger *slog.Logger, build Builder, waiting *startingHandler) (*Worker, func(), error) {
	wait := backoff.NewExponentialBackOff()
	wait.InitialInterval, wait.MaxInterval = 200*time.Millisecond, 5*time.Second
	for {
		w, cleanup, err := build()
		if err == nil {
			return w, cleanup, nil
		}
		if !errors.Is(err, domain.ErrUnavailable) {
			return nil, nil, fmt.Errorf("start: %w", err)
		}
		waiting.set(err)
		delay := wait.NextBackOff()
		logger.Warn("waiting for the broker and the stores", "error", err.Error(), "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// newHTTPServer serves handler with the timeouts of http.*: a slow client cannot hold a
// connection, nor the start-up server, and with it the start, open.
func newHTTPServer(cfg *configs.Config, handler http.Handler) *http.Server {
	c := cfg.HTTP
	return &http.Server{
		Handler: handler, ReadHeaderTimeout: min(c.ReadTimeout, 5*time.Second), ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
	}
}

// checkSecretFiles reads the signing keys and the token files that cfg names.
func checkSecretFiles(cfg *configs.Config) error {
	if cfg.Signing.KeysFile != "" {
		if _, err := signing.Load(cfg.Signing.KeysFile); err != nil {
			return fmt.Errorf("signing.keys_file (%s): %w", configs.EnvSigningKeysFile, err)
		}
	}
	_, err := NewAccess(cfg)
	return err
}

// startingHandler answers while the worker is being built.
type startingHandler struct {
	mu      sync.Mutex
	waiting string
}

func (h *startingHandler) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waiting = err.Error()
}

func (h *startingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		return
	}
	h.mu.Lock()
	waiting := h.waiting
	h.mu.Unlock()
	if waiting == "" {
		waiting = "connecting"
	}
	w.Header().Set("Retry-After", "2")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "starting", "checks": map[string]string{"startup": waiting}})
}

// Listeners are where a worker serves, when Serve opened them before the worker existed.
type Listeners struct {
	Public, Admin net.Listener
	close         func()
}

// handoff accepts connections on one socket and hands them to one consumer after the
// other (the start-up server, then the worker's), so the port never closes in between.
type handoff struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func listen(addr, setting string) (*handoff, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, setting, err)
	}
	h := &handoff{Listener: l, conns: make(chan net.Conn), done: make(chan struct{})}
	go h.accept()
	return h, nil
}

func (h *handoff) accept() {
	for {
		conn, err := h.Listener.Accept()
		if err != nil {
			h.once.Do(func() { close(h.done) })
			return
		}
		select {
		case h.conns <- conn:
		case <-h.done:
			_ = conn.Close()
			return
		}
	}
}

// Close closes the socket.
func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return h.Listener.Close()
}

// next returns a listener for the next consumer; closing it stops that consumer only.
func (h *handoff) next() net.Listener {
	return &consumer{h: h, closed: make(chan struct{})}
}

type consumer struct {
	h      *handoff
	closed chan struct{}
	once   sync.Once
}

func (c *consumer) Accept() (net.Conn, error) {
	select {
	case conn := <-c.h.conns:
		return conn, nil
	case <-c.closed:
		return nil, net.ErrClosed
	case <-c.h.done:
		return nil, net.ErrClosed
	}
}

func (c *consumer) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *consumer) Addr() net.Addr { return c.h.Addr() }
