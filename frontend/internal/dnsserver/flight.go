package dnsserver

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// flights lets identical cluster questions in flight share one lookup:
// when a name becomes popular at once (a Service just created, a cache just
// flushed by a resync) thousands of clients ask the same question, and one
// answer serves them all. Questions are identical when their cache keys
// (lower-cased name, type, class, DO bit) and transports are. The caller
// that starts a flight makes the lookup; the others wait for its result
// without a deadline of their own, since the lookup has one.
type flights struct {
	mu sync.Mutex
	m  map[flightKey]*flight
	// waiting counts the callers waiting for another's lookup.
	waiting atomic.Int64
}

// flight is one lookup in progress and, once done is closed, its result.
type flight struct {
	// done is made by the first caller that waits (under flights.mu): most
	// lookups have none.
	done chan struct{}
	// clientIP is the address of the client the lookup was made for.
	clientIP string
	resp     *clusterdnsv1.LookupResponse
	err      error
}

// do returns the result of fn for key, calling it unless a flight for key
// is under way, in which case it waits for that one's result. shared is
// true when the result is another caller's, and leaderIP the client that
// caller asked for.
func (f *flights) do(key flightKey, clientIP string, fn func() (*clusterdnsv1.LookupResponse, error)) (resp *clusterdnsv1.LookupResponse, err error, shared bool, leaderIP string) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		if fl.done == nil {
			fl.done = make(chan struct{})
		}
		done := fl.done
		f.waiting.Add(1)
		f.mu.Unlock()
		<-done
		f.waiting.Add(-1)
		return fl.resp, fl.err, true, fl.clientIP
	}
	if f.m == nil {
		f.m = make(map[flightKey]*flight)
	}
	fl := &flight{clientIP: clientIP}
	f.m[key] = fl
	f.mu.Unlock()
	defer func() {
		// Also when fn panics: waiters must never hang.
		f.mu.Lock()
		delete(f.m, key)
		done := fl.done
		f.mu.Unlock()
		if done != nil {
			close(done)
		}
	}()
	fl.resp, fl.err = fn()
	return fl.resp, fl.err, false, clientIP
}

// flightKey is the key of a question in flights: its cache key's identity
// and its transport.
type flightKey struct {
	id        string
	transport clusterdnsv1.Transport
}

// ownCase gives the owner names of m that equal name ignoring case the
// letter case of name, as a cache hit does: an answer shared from a flight
// was computed for another client's spelling of the name.
func ownCase(m *dns.Msg, name string) {
	for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			if h := rr.Header(); h.Name != name && strings.EqualFold(h.Name, name) {
				h.Name = name
			}
		}
	}
}
