package loadgen

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParseQueries(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Query
		wantErr bool
	}{
		{name: "name and type", in: "a.example. A\nb.example AAAA\n_http._tcp.c.example. srv\n",
			want: []Query{{"a.example.", dns.TypeA}, {"b.example.", dns.TypeAAAA}, {"_http._tcp.c.example.", dns.TypeSRV}}},
		{name: "type A when left out", in: "a.example\n", want: []Query{{"a.example.", dns.TypeA}}},
		{name: "comments and blank lines", in: "; dnsperf comment\n\n# another\n  a.example. A  \n", want: []Query{{"a.example.", dns.TypeA}}},
		{name: "unknown type", in: "a.example. NOPE\n", wantErr: true},
		{name: "extra field", in: "a.example. A 1\n", wantErr: true},
		{name: "empty", in: "\n; nothing\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueries(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPackMatchesMiekg(t *testing.T) {
	qs := []Query{{"a.example.", dns.TypeA}, {"_dns._udp.kube-dns.kube-system.svc.cluster.local.", dns.TypeSRV}}
	p, err := pack(qs)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		m := new(dns.Msg)
		if err := m.Unpack(p.query(i)); err != nil {
			t.Fatal(err)
		}
		if !m.RecursionDesired || len(m.Question) != 1 || m.Question[0].Name != q.Name || m.Question[0].Qtype != q.Type || len(m.Extra) != 0 {
			t.Errorf("query %d packed as %v", i, m)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var all []time.Duration
	var sum time.Duration
	for range 100000 {
		d := time.Duration(rng.ExpFloat64() * float64(300*time.Microsecond))
		h.add(d)
		all = append(all, d)
		sum += d
	}
	slices.Sort(all)
	if got, want := h.mean(), sum/time.Duration(len(all)); got != want {
		t.Errorf("mean %s, want %s", got, want)
	}
	for _, p := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := all[int(p*float64(len(all)))-1]
		got := h.quantile(p)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("p%g %s, want %s within 2%%", 100*p, got, want)
		}
	}
	for _, d := range []time.Duration{0, 1, 63, 64, 65, 127, 128, 1000, time.Second, 1 << 62} {
		b := bucket(d)
		if d < bucketLow(b) || d >= bucketLow(b+1) {
			t.Errorf("%d in bucket %d [%d, %d)", d, b, bucketLow(b), bucketLow(b+1))
		}
	}
}
