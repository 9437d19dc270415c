// Package rawsock reads and writes non-blocking sockets with raw system
// calls (Linux only).
//
// A socket the Go poller manages never blocks in the kernel, so a call on
// it need not tell the scheduler that its thread may block. An ordinary
// call does: the first after an idle spell wakes the runtime's monitor
// thread (sysmon), which then polls every 20 µs while the process is busy,
// and a call longer than that (a send that wakes a reader on another CPU)
// has its processor handed to another thread. A server answering a query
// at a time after idle spells paid several thread wake-ups per query for
// that. A raw call keeps the goroutine's processor through it.
package rawsock
