// Package tracing carries an order's W3C trace context across every hop: from the
// HTTP request into the messages published for it, and from a consumed message into
// the handler's span and what the handler publishes. Spans follow OpenTelemetry's
// messaging conventions; the trace context travels in the string header traceparent.
package tracing

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderflow/orderflow/app/envelope"
)

// ScopeName names the instrumentation in every span.
const ScopeName = "github.com/orderflow/orderflow"

// Propagator reads and writes traceparent (and tracestate, baggage).
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Messaging attribute keys of the OpenTelemetry semantic conventions (messaging spans).
const (
	attrSystem         = attribute.Key("messaging.system")
	attrDestination    = attribute.Key("messaging.destination.name")
	attrOperationName  = attribute.Key("messaging.operation.name")
	attrOperationType  = attribute.Key("messaging.operation.type")
	attrMessageID      = attribute.Key("messaging.message.id")
	attrConversationID = attribute.Key("messaging.message.conversation_id")
	attrConsumerGroup  = attribute.Key("messaging.consumer.group.name")
	attrRoutingKey     = attribute.Key("messaging.rabbitmq.destination.routing_key")
)

// Tracer makes the spans of one transport: system is "rabbitmq" or "gochannel".
type Tracer struct {
	tracer trace.Tracer
	system string
}

// New returns a Tracer on provider; a nil provider traces nothing.
func New(provider trace.TracerProvider, system string) Tracer {
	if provider == nil {
		provider = noop.NewTracerProvider()
	}
	return Tracer{tracer: provider.Tracer(ScopeName), system: system}
}

// metadataCarrier lets the propagator read and write a message's metadata.
type metadataCarrier message.Metadata

func (c metadataCarrier) Get(key string) string { return message.Metadata(c).Get(key) }
func (c metadataCarrier) Set(key, value string) { message.Metadata(c).Set(key, value) }
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// StartPublish starts the producer span of msg, published to event, as a child of
// ctx's span, and writes its context into msg's traceparent header. End the span
// with End once the broker has taken the message (or failed to).
func (t Tracer) StartPublish(ctx context.Context, event string, msg *message.Message) trace.Span {
	ctx, span := t.tracer.Start(ctx, "publish "+event,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attrSystem.String(t.system),
			attrDestination.String(event),
			attrRoutingKey.String(event),
			attrOperationName.String("publish"),
			attrOperationType.String("send"),
			attrMessageID.String(msg.UUID),
			attrConversationID.String(msg.Metadata.Get(envelope.CorrelationIDKey)),
		))
	Propagator.Inject(ctx, metadataCarrier(msg.Metadata))
	return span
}

// End ends span, marking it failed with err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Middleware gives each message a consumer span, child of the context its traceparent
// header carries, and puts the span in the message's context: what the handler
// publishes continues the same trace.
func (t Tracer) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		parent := Propagator.Extract(msg.Context(), metadataCarrier(msg.Metadata))
		event := msg.Metadata.Get(envelope.EventNameKey)
		handler := message.HandlerNameFromCtx(msg.Context())
		ctx, span := t.tracer.Start(parent, "process "+event,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attrSystem.String(t.system),
				attrDestination.String(envelope.QueueName(handler)),
				attrRoutingKey.String(event),
				attrOperationName.String("process"),
				attrOperationType.String("process"),
				attrMessageID.String(msg.UUID),
				attrConversationID.String(msg.Metadata.Get(envelope.CorrelationIDKey)),
				attrConsumerGroup.String(handler),
			))
		msg.SetContext(ctx)
		produced, err := h(msg)
		End(span, err)
		return produced, err
	}
}

// LogHandler adds trace_id and span_id to every record logged with a context that
// holds a span, so log lines and traces can be joined.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(attrs)}
}

func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
