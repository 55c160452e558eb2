//go:build wireinject

package main

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/orderflow/orderflow/app/worker"
	"github.com/orderflow/orderflow/configs"
)

// initializeWorker builds the worker that cfg describes.
func initializeWorker(cfg *configs.Config, logger *slog.Logger) (*worker.Worker, func(), error) {
	wire.Build(worker.Set, worker.ConfiguredSet, wire.Value(worker.Version(version)))
	return nil, nil, nil
}
