package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/wire"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/inproc"
	"github.com/orderflow/orderflow/app/adapters/memory"
	"github.com/orderflow/orderflow/app/adapters/paysim"
	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/payment"
	"github.com/orderflow/orderflow/handlers"
)

// Set builds a worker from a Transport, a Storage, a payment.Provider and a handler
// table.
var Set = wire.NewSet(
	New,
	NewRouter,
	NewChecks,
	httpapi.New,
	app.New,
	handlers.NewPublisher,
	wire.Bind(new(app.EventPublisher), new(*handlers.Publisher)),
	wire.FieldsOf(new(Storage), "Stores"),
	wire.FieldsOf(new(Transport), "Publisher"),
	ProvideClock,
)

// ConfiguredSet picks the transport, the stores and the payment provider from the
// configuration, and runs every handler of the table.
var ConfiguredSet = wire.NewSet(ProvideTransport, ProvideStorage, ProvidePaymentProvider, handlers.Table)

// InprocSet is the in-process transport, for tests that need to reach into the broker.
var InprocSet = wire.NewSet(NewInprocBroker, NewInprocTransport)

// Storage is the stores and how to tell whether they answer.
type Storage struct {
	Stores app.Stores
	Check  func(ctx context.Context) error
}

// ProvideClock returns the wall clock.
func ProvideClock() app.Clock { return time.Now }

// ProvideTransport connects to the broker that cfg names.
func ProvideTransport(cfg *configs.Config, logger *slog.Logger) (Transport, func(), error) {
	switch cfg.Broker {
	case configs.BrokerGoChannel:
		broker, closeBroker := NewInprocBroker(logger)
		return NewInprocTransport(broker), closeBroker, nil
	}
	return Transport{}, nil, fmt.Errorf("broker %q is not supported yet", cfg.Broker)
}

// NewInprocBroker returns the in-process broker, which keeps the poison queue in memory.
func NewInprocBroker(logger *slog.Logger) (*inproc.Broker, func()) {
	broker := inproc.New(logger, handlers.PoisonTopic)
	return broker, func() {
		if err := broker.Close(); err != nil {
			logger.Error("close in-process broker", "error", err)
		}
	}
}

// NewInprocTransport runs the worker on the in-process broker.
func NewInprocTransport(broker *inproc.Broker) Transport {
	return Transport{Publisher: broker, Subscriber: broker, Check: broker.Check}
}

// ProvideStorage opens the stores that cfg names.
func ProvideStorage(cfg *configs.Config) (Storage, func(), error) {
	switch cfg.Store {
	case configs.StoreMemory:
		return NewMemoryStorage(), func() {}, nil
	}
	return Storage{}, nil, fmt.Errorf("store %q is not supported yet", cfg.Store)
}

// NewMemoryStorage returns empty in-memory stores.
func NewMemoryStorage() Storage {
	return Storage{
		Stores: app.Stores{
			Orders:          memory.NewOrders(),
			Inventory:       memory.NewInventory(),
			Payments:        memory.NewPayments(),
			Notifications:   memory.NewNotifications(),
			IdempotencyKeys: memory.NewIdempotencyKeys(),
		},
		Check: func(context.Context) error { return nil },
	}
}

// ProvidePaymentProvider returns the simulated provider of CONTRACT 3.
func ProvidePaymentProvider(cfg *configs.Config) payment.Provider {
	return NewPaySim(cfg)
}

// NewPaySim returns the simulated provider configured by cfg.
func NewPaySim(cfg *configs.Config) *paysim.Provider {
	return paysim.New(paysim.Config{
		DeclineAboveCents:    cfg.Payment.DeclineAboveCents,
		Latency:              cfg.Payment.Latency,
		TransientFailureRate: cfg.Payment.TransientFailureRate,
	})
}

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
