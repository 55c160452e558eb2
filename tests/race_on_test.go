//go:build race

package tests

// raceDetector is true under -race. watermill-amqp v2.1.3 writes its connection state
// without synchronisation when it reconnects (ConnectionWrapper.handleConnectionClose vs
// IsConnected), so a test that restarts the broker under an in-process worker trips the
// race detector in that library, not in ours.
const raceDetector = true
