package worker

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderflow/orderflow/app/httpapi"
)

// NewChecks lists what /readyz asks: the broker, the store and the router.
func NewChecks(transport Transport, storage Storage, router *message.Router) []httpapi.Check {
	return []httpapi.Check{
		{Name: "broker", Fn: transport.Check},
		{Name: "store", Fn: storage.Check},
		{Name: "router", Fn: func(context.Context) error {
			if router.IsClosed() || !router.IsRunning() {
				return errors.New("router is not running")
			}
			return nil
		}},
	}
}

// NewMetricsRegistry returns the worker's own registry, with Go and process metrics.
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewMetricsHandler serves the registry in Prometheus's text format.
func NewMetricsHandler(reg *prometheus.Registry) httpapi.MetricsHandler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
