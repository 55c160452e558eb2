package worker

import (
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/adapters/amqpbroker"
	"github.com/orderflow/orderflow/app/envelope"
	"github.com/orderflow/orderflow/configs"
	"github.com/orderflow/orderflow/domain/event"
	"github.com/orderflow/orderflow/handlers"
)

// Definitions returns the RabbitMQ definitions of the topology that the handlers of
// table need under cfg (amqp.queue_type, amqp.retry_delays): the same queues and
// bindings a worker declares, from the same rows, and the broker users; producers may
// publish order.placed, the entry event of the saga. It connects to nothing.
func Definitions(cfg *configs.Config, logger *slog.Logger, table []handlers.Definition) ([]byte, error) {
	built, err := BuildHandlers(cfg, logger, NewMemoryStorage(), &app.Application{}, table, time.Now)
	if err != nil {
		return nil, err
	}
	queues := make([]amqpbroker.HandlerQueue, len(built))
	for i, b := range built {
		queues[i] = amqpbroker.HandlerQueue{Queue: envelope.QueueName(b.Name), Events: b.Handler.Events()}
	}
	topology := &amqpbroker.Topology{QueueType: cfg.AMQP.QueueType, RetryDelays: cfg.AMQP.RetryDelays}
	return topology.Definitions(queues, []string{event.OrderPlacedName})
}
