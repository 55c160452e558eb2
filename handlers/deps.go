package handlers

import (
	"log/slog"

	"github.com/orderflow/orderflow/app"
)

// Deps is everything a handler may use, handed to the constructor in its row.
type Deps struct {
	// Name is the handler's name.
	Name string
	// App holds the use cases.
	App *app.Application
	// State is the handler's own key space (memory or Redis, as ORDERFLOW_STORE says).
	State app.State
	// Clock is the time; tests give a fixed one.
	Clock app.Clock
	// Logger names the handler on every line. Inside a message's handling, prefer the
	// message's logger (middleware.LoggerFrom), which also names its ids.
	Logger *slog.Logger
	// Settings decodes handlers.<name>.settings into a struct; see WithSettings.
	Settings SettingsDecoder
}

// SettingsDecoder decodes a handler's settings block over dst, a pointer to a struct
// that holds the defaults, and validates the result. The worker provides it.
type SettingsDecoder func(dst any) error

// Constructor builds a handler from its Deps. An error stops start-up.
type Constructor func(Deps) (Handler, error)

// Validator is implemented by settings structs that check their values. Validate returns
// every problem, e.g. joined with errors.Join, each starting with the setting's key
// ("max_orders: must be >= 1, got 0"); the worker prefixes them with
// handlers.<name>.settings.
type Validator interface {
	Validate() error
}

// WithSettings returns a constructor that decodes the handler's settings over defaults,
// validates them (see Validator) and passes them to build. A handler without settings
// needs none of this: any func(Deps) (Handler, error) is a Constructor.
func WithSettings[S any](defaults S, build func(Deps, S) (Handler, error)) Constructor {
	return func(d Deps) (Handler, error) {
		settings := defaults
		if err := d.Settings(&settings); err != nil {
			return Handler{}, err
		}
		return build(d, settings)
	}
}

// UseCases adapts a constructor that needs only the use cases.
func UseCases(build func(*app.Application) Handler) Constructor {
	return func(d Deps) (Handler, error) { return build(d.App), nil }
}
