// Package tests runs Orderflow as a whole: component tests through the real router and
// HTTP API on GoChannel and memory stores, and the same suites on real Redis and
// RabbitMQ. Its non-test files are the harness other packages' tests use too.
package tests
