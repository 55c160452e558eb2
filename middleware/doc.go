// Package middleware holds the Watermill handler middleware of Orderflow, one concern per
// file. Each is a func(message.HandlerFunc) message.HandlerFunc, or a config struct with a
// Middleware method, so chains can be declared per handler in one table.
package middleware
