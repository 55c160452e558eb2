package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderflow/orderflow/app/tracing"
)

// NewTracerProvider builds what the standard OTEL_* variables say (CONTRACT 8):
// OTEL_TRACES_EXPORTER otlp, console or none (the default, which traces nothing and
// costs nothing); OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL and the rest are read by the
// SDK's own exporters; OTEL_SERVICE_NAME defaults to orderflow. The SDK's own errors go
// to logger.
func NewTracerProvider(logger *slog.Logger) (trace.TracerProvider, func(), error) {
	otel.SetLogger(logr.FromSlogHandler(logger.Handler()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "error", err.Error())
	}))
	otel.SetTextMapPropagator(tracing.Propagator)
	if os.Getenv("OTEL_TRACES_EXPORTER") == "" {
		return noop.NewTracerProvider(), func() {}, nil
	}
	ctx := context.Background()
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exporter) {
		return noop.NewTracerProvider(), func() {}, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "orderflow")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("otel resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return provider, func() {
		// Spans of the last orders are flushed before the process ends.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := provider.Shutdown(ctx); err != nil {
			logger.Warn("flush traces", "error", err.Error())
		}
	}, nil
}

// NewTracer makes the spans of the worker's transport.
func NewTracer(provider trace.TracerProvider, transport Transport) tracing.Tracer {
	return tracing.New(provider, transport.System)
}
