package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	// queryTimeout bounds one DNS exchange.
	queryTimeout = 2 * time.Second
	// queryAttempts is how often a timed-out exchange is sent; other errors
	// are not retried.
	queryAttempts = 3
	// EDNSBufferSize is the EDNS0 UDP size NewQuery advertises, as dig does.
	EDNSBufferSize = 1232
)

// NewQuery returns a query as dig sends it by default: a fresh ID, recursion
// desired, and an EDNS0 OPT record advertising EDNSBufferSize. name is made
// fully qualified; its letter case is kept.
func NewQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(EDNSBufferSize, false)
	return m
}

// Exchange sends m to the DNS server at addr over UDP or TCP and returns the
// reply, retrying (with a new ID) when an exchange times out. It checks that
// the reply's ID and question match. It may be called from any goroutine.
func Exchange(ctx context.Context, addr string, m *dns.Msg, tcp bool) (*dns.Msg, error) {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	c := &dns.Client{Net: network, Timeout: queryTimeout}
	var lastErr error
	for attempt := 1; attempt <= queryAttempts; attempt++ {
		if attempt > 1 {
			m = m.Copy()
			m.Id = dns.Id()
		}
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err == nil {
			if r.Id != m.Id {
				return nil, fmt.Errorf("%s %s: reply ID %d, query ID %d", network, addr, r.Id, m.Id)
			}
			if len(m.Question) > 0 && !sameQuestion(r.Question, m.Question[0]) {
				return r, fmt.Errorf("%s %s: reply question %v, asked %v", network, addr, r.Question, m.Question)
			}
			return r, nil
		}
		lastErr = fmt.Errorf("%s %s: %w", network, addr, err)
		if !isTimeout(err) || ctx.Err() != nil {
			return nil, lastErr
		}
	}
	return nil, fmt.Errorf("%d attempts timed out: %w", queryAttempts, lastErr)
}

// sameQuestion reports whether a reply's question section is q (names
// compared without regard to letter case).
func sameQuestion(got []dns.Question, q dns.Question) bool {
	return len(got) == 1 && strings.EqualFold(got[0].Name, q.Name) &&
		got[0].Qtype == q.Qtype && got[0].Qclass == q.Qclass
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Query asks the DNS server at addr for name and qtype (see NewQuery), over
// TCP when tcp is set, and returns the reply; it fails t when no reply comes.
// Call it from the test's goroutine.
func Query(t testing.TB, addr, name string, qtype uint16, tcp bool) *dns.Msg {
	t.Helper()
	return QueryMsg(t, addr, NewQuery(name, qtype), tcp)
}

// QueryMsg sends a prepared message, as Query does.
func QueryMsg(t testing.TB, addr string, m *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryAttempts*queryTimeout+time.Second)
	defer cancel()
	r, err := Exchange(ctx, addr, m, tcp)
	if err != nil {
		t.Fatalf("stack: query %v: %v", m.Question, err)
	}
	return r
}

// Transport names the protocol for messages and subtest names.
func Transport(tcp bool) string {
	if tcp {
		return "tcp"
	}
	return "udp"
}

// Eventually asks the DNS server at addr for name and qtype until check
// accepts the reply or timeout passes; it then fails t with check's last
// complaint and the last reply. check returns "" to accept. Exchange errors
// count as a complaint and are retried, so it may be used while servers start
// or fail over.
func Eventually(t testing.TB, timeout time.Duration, addr, name string, qtype uint16, tcp bool, check func(*dns.Msg) string) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last *dns.Msg
	complaint := "no reply yet"
	for {
		r, err := Exchange(ctx, addr, NewQuery(name, qtype), tcp)
		if err == nil {
			last = r
			if complaint = check(r); complaint == "" {
				return r
			}
		} else {
			complaint = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stack: %s %s over %s: after %v: %s\nlast reply:\n%v", name, dns.TypeToString[qtype], Transport(tcp), timeout, complaint, last)
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
