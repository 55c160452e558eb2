//go:build wireinject

package tests

import (
	"log/slog"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/handlers"
)

// initializeTestWorker builds a worker on the in-process broker and memory stores that
// runs the handlers of table, and returns it with its parts, so tests can reach in.
func initializeTestWorker(cfg *configs.Config, logger *slog.Logger, table []handlers.Definition, clock app.Clock, tracer trace.TracerProvider) (*TestWorker, func(), error) {
	wire.Build(
		worker.Set,
		wire.Value(worker.Version("test")),
		worker.InprocSet,
		worker.NewMemoryStorage,
		wire.Struct(new(TestWorker), "Worker", "Broker", "Payments", "Storage", "Registry", "Keys"),
	)
	return nil, nil, nil
}

// initializeWorkerOn builds a worker that runs the handlers of table on the given
// transport and storage, for tests that wrap them (fault injection, real Redis).
func initializeWorkerOn(cfg *configs.Config, logger *slog.Logger, table []handlers.Definition, clock app.Clock, tracer trace.TracerProvider, transport worker.Transport, storage worker.Storage) (*TestWorker, func(), error) {
	wire.Build(
		worker.Set,
		wire.Value(worker.Version("test")),
		wire.Struct(new(TestWorker), "Worker", "Payments", "Storage", "Registry", "Keys"),
	)
	return nil, nil, nil
}
