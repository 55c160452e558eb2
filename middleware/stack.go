package middleware

import "github.com/ThreeDotsLabs/watermill/message"

// stackReserve is what a message's handling needs on its goroutine's stack at most, with
// room to spare: the whole chain, a handler and the JSON decoding under it fit in 8 KiB
// (the embedded saga's CPU profile shows no stack growth past this point at that size).
const stackReserve = 8 << 10

// GrowStack grows the stack of the goroutine that handles a message once, before
// anything runs on it, to the size the handling will need. Watermill's router starts a
// goroutine per message, and a new goroutine's stack starts small (about the average
// of the process's stacks, most of which are idle and small); grown frame by frame, it
// is copied several times, each copy walking every frame deeper in the chain. In the
// embedded saga that was 12% of the CPU (runtime.newstack); grown here, at the top, the
// one copy is of a few frames. CockroachDB does the same in its request paths
// (pkg/util/growstack).
func GrowStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		_ = growStack(len(msg.UUID))
		return h(msg)
	}
}

// growStack has a frame of stackReserve bytes; calling it makes the runtime grow the
// stack to fit, and the stack keeps that size when it returns. i and the result only
// keep the compiler from proving the frame unused and dropping it.
//
//go:noinline
func growStack(i int) byte {
	var frame [stackReserve]byte
	frame[i%len(frame)] = 1
	return frame[(i+1)%len(frame)]
}
