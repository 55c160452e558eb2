package worker

import (
	"time"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/handlers"
	"github.com/orderflow/orderflow/middleware"
)

// Set builds a worker from a Transport, a Storage and a handler table.
var Set = wire.NewSet(
	New,
	NewRouter,
	NewChecks,
	httpapi.New,
	NewAccess,
	app.New,
	handlers.NewPublisher,
	NewSigningKeys,
	NewTracer,
	NewOrderIDSecret,
	wire.Bind(new(app.EventPublisher), new(*handlers.Publisher)),
	wire.FieldsOf(new(Storage), "Stores"),
	NewPublisher,
	ProvidePaymentProvider,
	NewPaySim,
	NewMetricsRegistry,
	NewMetricsHandler,
	middleware.NewMetrics,
	NewMetrics,
	wire.Bind(new(app.Observer), new(*Metrics)),
	wire.Bind(new(httpapi.Observer), new(*Metrics)),
	wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)),
	wire.Bind(new(prometheus.Gatherer), new(*prometheus.Registry)),
)

// ConfiguredSet picks the transport and the stores from the configuration, and runs
// every handler of the table on the wall clock.
var ConfiguredSet = wire.NewSet(ProvideTransport, ProvideStorage, handlers.Table, NewClock, NewTracerProvider)

// InprocSet is the in-process transport, for tests that need to reach into the broker.
var InprocSet = wire.NewSet(NewInprocBroker, NewInprocTransport)

// NewClock returns the wall clock.
func NewClock() app.Clock { return time.Now }
