package httpapi

import (
	"net/http"
	"time"
)

// The listeners, as an Observer is told them.
const (
	ListenerPublic = "public"
	ListenerAdmin  = "admin"
)

// RouteUnmatched names a request that no route of its listener serves (404, 405).
const RouteUnmatched = "unmatched"

// Observer is told of every request a listener answered, e.g. to count it; the worker's
// counts in Prometheus, which this package does not link.
type Observer interface {
	// ObserveRequest gets the listener (ListenerPublic or ListenerAdmin), the route (the
	// pattern that serves the request, such as "POST /orders", never the path a caller
	// chose, or RouteUnmatched), the status code and the time the answer took.
	ObserveRequest(listener, route string, code int, elapsed time.Duration)
}

// routes is a mux that remembers its patterns, so that a request's route is named by one
// of them and never by anything the caller sent.
type routes struct {
	*http.ServeMux
	patterns map[string]bool
}

func newRoutes() *routes {
	return &routes{ServeMux: http.NewServeMux(), patterns: map[string]bool{}}
}

func (m *routes) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns[pattern] = true
}

func (m *routes) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// route returns the pattern of m that serves r, or "" when none does.
func (m *routes) route(r *http.Request) string {
	// ServeMux.Handler returns a path of the request for some redirects: only a
	// registered pattern names a route.
	if _, pattern := m.Handler(r); m.patterns[pattern] {
		return pattern
	}
	return ""
}

// observed serves requests with probes, which passes what is not a probe to mux, and
// tells observer of each. The route is found before the request is served, so that a
// request refused by requireToken is named by the route it asked for.
func observed(listener string, observer Observer, probes, mux *routes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := probes.route(r)
		if route == "" {
			route = mux.route(r)
		}
		if route == "" {
			route = RouteUnmatched
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		probes.ServeHTTP(rec, r)
		observer.ObserveRequest(listener, route, rec.code, time.Since(start))
	})
}

// statusRecorder keeps the status code of an answer.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.code, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// serverWriter returns the server's own writer under w's wrappers: http.MaxBytesReader
// asks it, through an unexported method a wrapper cannot pass on, to close the
// connection after a body over the limit.
func serverWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
