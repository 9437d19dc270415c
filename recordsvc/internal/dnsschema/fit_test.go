package dnsschema

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// bigHeadless is a store with a headless Service "big" in namespace "demo"
// of n ready endpoints, each with a hostname and the given ports.
func bigHeadless(n int, ports ...kubeindex.Port) *fakeStore {
	store := newFakeStore(1700000000)
	store.addNamespace("demo")
	eps := make([]kubeindex.Endpoint, 0, n)
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		eps = append(eps, kubeindex.Endpoint{Addresses: []netip.Addr{ip}, Hostname: fmt.Sprintf("host-%d", i),
			Ready: true, Ports: ports})
	}
	store.addService(kubeindex.Service{Namespace: "demo", Name: "big", Headless: true, Ports: ports}, eps...)
	return store
}

// TestFitMessage asks questions whose full answers are small or far beyond
// a DNS message and packs each response as a DNS server would (without
// compression): it must fit 65,535 bytes, be marked truncated exactly when
// records were cut, and keep glue only for the answers it keeps.
func TestFitMessage(t *testing.T) {
	s := mustSchema(t, Config{})
	four := []kubeindex.Port{{Name: "http", Protocol: "tcp", Port: 80}, {Name: "https", Protocol: "tcp", Port: 443},
		{Name: "metrics", Protocol: "tcp", Port: 9090}, {Name: "grpc", Protocol: "tcp", Port: 9091}}
	tests := []struct {
		name      string
		store     *fakeStore
		qname     string
		qtype     uint16
		truncated bool
		// full is the number of answer records without the cap.
		full int
	}{
		{"small A", bigHeadless(3, four...), "big.demo.svc.cluster.local.", dns.TypeA, false, 3},
		{"small SRV", bigHeadless(3, four...), "big.demo.svc.cluster.local.", dns.TypeSRV, false, 12},
		{"12000 x 4 SRV", bigHeadless(12000, four...), "big.demo.svc.cluster.local.", dns.TypeSRV, true, 48000},
		{"12000 A", bigHeadless(12000, four...), "big.demo.svc.cluster.local.", dns.TypeA, true, 12000},
		{"1500 A fit", bigHeadless(1500, four...), "big.demo.svc.cluster.local.", dns.TypeA, false, 1500},
		{"one port SRV", bigHeadless(12000, four[0]), "_http._tcp.big.demo.svc.cluster.local.", dns.TypeSRV, true, 12000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.Answer(tt.store, &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: uint32(tt.qtype)})
			if resp.GetResult() != success {
				t.Fatalf("result %v", resp.GetResult())
			}
			if resp.GetTruncated() != tt.truncated {
				t.Fatalf("truncated %v with %d answers, want %v", resp.GetTruncated(), len(resp.GetAnswer()), tt.truncated)
			}
			if !tt.truncated && len(resp.GetAnswer()) != tt.full {
				t.Fatalf("%d answers, want all %d", len(resp.GetAnswer()), tt.full)
			}
			if tt.truncated && (len(resp.GetAnswer()) == 0 || len(resp.GetAnswer()) >= tt.full) {
				t.Fatalf("%d answers of %d", len(resp.GetAnswer()), tt.full)
			}
			m := new(dns.Msg)
			m.SetQuestion(tt.qname, tt.qtype)
			m.Response, m.Authoritative, m.Truncated = true, true, resp.GetTruncated()
			targets := map[string]bool{}
			for _, rr := range resp.GetAnswer() {
				m.Answer = append(m.Answer, toRR(t, rr))
				if srv := rr.GetSrv(); srv != nil {
					targets[srv.GetTarget()] = true
				}
			}
			for _, rr := range resp.GetAdditional() {
				if tt.qtype == dns.TypeSRV && !targets[rr.GetName()] {
					t.Fatalf("glue %s for no kept answer", rr.GetName())
				}
				m.Extra = append(m.Extra, toRR(t, rr))
			}
			m.SetEdns0(1232, false)
			m.Compress = false
			wire, err := m.Pack()
			if err != nil {
				t.Fatalf("pack: %v", err)
			}
			if len(wire) > maxMessageSize {
				t.Fatalf("packed response is %d bytes", len(wire))
			}
			if tt.truncated && len(wire) < maxMessageSize/2 {
				t.Fatalf("truncated response is only %d bytes: the cap wastes room", len(wire))
			}
			t.Logf("%d answers, %d additional, %d bytes uncompressed", len(m.Answer), len(m.Extra), len(wire))
		})
	}
}

func TestSerialFromStore(t *testing.T) {
	s := mustSchema(t, Config{})
	store := &serialStore{fakeStore: newFakeStore(42), serial: 1800000000}
	store.addNamespace("demo")
	// Negative answers share their SOA while the serial holds: a change of
	// serial gives the next ones a new SOA and leaves the earlier answer's
	// alone.
	var earlier *clusterdnsv1.LookupResponse
	for _, serial := range []uint32{1800000000, 1800000000, 1800000007, 1800000000} {
		store.serial = serial
		for _, name := range []string{"nothing.demo.svc.cluster.local.", "nothing.none.svc.cluster.local."} {
			resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: name, Qtype: uint32(dns.TypeA)})
			if resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR {
				t.Fatalf("%s: %v, want NAME_ERROR", name, resp.GetResult())
			}
			soa := resp.GetAuthority()[0]
			if got := soa.GetSoa().GetSerial(); got != serial || soa.GetName() != "cluster.local." {
				t.Fatalf("%s at serial %d: SOA %v, want the store's serial", name, serial, soa)
			}
			if earlier == nil {
				earlier = resp
			}
		}
	}
	if got := earlier.GetAuthority()[0].GetSoa().GetSerial(); got != 1800000000 {
		t.Fatalf("the first answer's SOA serial became %d", got)
	}
}

type serialStore struct {
	*fakeStore
	serial uint32
}

func (s *serialStore) Serial() uint32 { return s.serial }
