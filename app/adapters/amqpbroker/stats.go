package amqpbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// QueueStat is what the broker says of one queue.
type QueueStat struct {
	Name string
	// Ready counts the messages waiting for a consumer.
	Ready int
	// Unacked counts the messages delivered to a consumer and not acknowledged yet;
	// only the management API knows it (HasUnacked).
	Unacked    int
	HasUnacked bool
	Consumers  int
}

// Queues returns the names of the queues of the topology, sorted: every handler queue
// bound so far, the poison queue and the retry queues.
func (t *Topology) Queues() []string {
	t.mu.Lock()
	names := make([]string, 0, len(t.bindings)+1+len(t.RetryDelays))
	for q := range t.bindings {
		names = append(names, q)
	}
	t.mu.Unlock()
	for _, q := range t.fixedQueues() {
		names = append(names, q.Name)
	}
	slices.Sort(names)
	return names
}

// QueueStats asks the broker about every queue of the topology with a passive declare,
// which gives the ready messages and the consumers but not the unacked ones. It runs on
// the consuming connection: RabbitMQ blocks a publishing connection under flow control,
// and a stats request must not wait behind it. A queue not declared yet is left out.
func (b *Broker) QueueStats(ctx context.Context) ([]QueueStat, error) {
	if !b.subConn.IsConnected() {
		return nil, errNotConnected
	}
	conn := b.subConn.Connection()
	var ch *amqp.Channel
	defer func() {
		if ch != nil {
			_ = ch.Close()
		}
	}()
	var stats []QueueStat
	for _, name := range b.topology.Queues() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ch == nil || ch.IsClosed() {
			var err error
			if ch, err = conn.Channel(); err != nil {
				return nil, fmt.Errorf("open channel: %w", err)
			}
		}
		q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
			// The broker closed the channel; the next queue opens another.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("passive declare of %s: %w", name, err)
		}
		stats = append(stats, QueueStat{Name: name, Ready: q.Messages, Consumers: q.Consumers})
	}
	return stats, nil
}

// Management reads the queues of a topology from the RabbitMQ management API, in one
// request; unlike a passive declare it knows the unacked messages. Its figures are the
// broker's statistics, refreshed every 5 s by default (collect_statistics_interval).
type Management struct {
	// URL is the API's base, e.g. http://monitor:password@mq:15672; its user and
	// password are sent as basic auth.
	URL string
	// VHost is the virtual host of the queues, as the AMQP URL names it.
	VHost string
	// Where names the API in errors, without secrets.
	Where  string
	Client *http.Client
	// Queues returns the names to report (Topology.Queues); the vhost's other queues
	// are left out.
	Queues func() []string
}

// QueueStats lists the queues of the virtual host and returns ours.
func (m Management) QueueStats(ctx context.Context) ([]QueueStat, error) {
	base, err := url.Parse(m.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Where, err)
	}
	user := base.User
	base.User = nil
	endpoint := strings.TrimSuffix(base.String(), "/") + "/api/queues/" + url.PathEscape(m.VHost) +
		"?columns=name,messages_ready,messages_unacknowledged,consumers"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Where, err)
	}
	if user != nil {
		password, _ := user.Password()
		req.SetBasicAuth(user.Username(), password)
	}
	resp, err := m.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: GET /api/queues/%s answered %s: %s", m.Where, url.PathEscape(m.VHost), resp.Status, strings.TrimSpace(string(body)))
	}
	var listed []struct {
		Name      string `json:"name"`
		Ready     int    `json:"messages_ready"`
		Unacked   int    `json:"messages_unacknowledged"`
		Consumers int    `json:"consumers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil {
		return nil, fmt.Errorf("%s: decode queues: %w", m.Where, err)
	}
	ours := m.Queues()
	stats := make([]QueueStat, 0, len(ours))
	for _, q := range listed {
		if slices.Contains(ours, q.Name) {
			stats = append(stats, QueueStat{Name: q.Name, Ready: q.Ready, Unacked: q.Unacked, HasUnacked: true, Consumers: q.Consumers})
		}
	}
	return stats, nil
}

// managementTimeout bounds a request to the management API that its context does not.
const managementTimeout = 10 * time.Second

// NewManagement returns the client of the management API at rawURL for the queues of
// the broker's topology on the virtual host of amqpURL.
func (b *Broker) NewManagement(rawURL, where, amqpURL string) (Management, error) {
	uri, err := amqp.ParseURI(amqpURL)
	if err != nil {
		return Management{}, fmt.Errorf("virtual host of the amqp url: %w", err)
	}
	return Management{
		URL: rawURL, VHost: uri.Vhost, Where: where,
		Client: &http.Client{Timeout: managementTimeout},
		Queues: b.topology.Queues,
	}, nil
}
