package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestParseDNSPerf(t *testing.T) {
	verbose := `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d q -l 3 -c 10 -q 200 -v
[Status] Sending queries (to 127.0.0.1:15353)
> NOERROR a.ns.svc.cluster.local A 0.000100
> NXDOMAIN b.ns.svc.cluster.local A 0.000200
> NOERROR a.ns.svc.cluster.local A 0.000300
> T b.ns.svc.cluster.local A
> NOERROR a.ns.svc.cluster.local A 0.004000
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Response codes:       NOERROR 3 (75.00%), NXDOMAIN 1 (25.00%)
  Average packet size:  request 40, response 76
  Run time (s):         3.022045
  Queries per second:   1.323604

  Average Latency (s):  0.001150 (min 0.000100, max 0.004000)
  Latency StdDev (s):   0.001500
`
	tests := []struct {
		name    string
		input   string
		want    PerfResult
		wantErr string
	}{
		{
			name:  "verbose run with a timeout",
			input: verbose,
			want: PerfResult{
				Sent: 5, Completed: 4, Lost: 1, QPS: 1.323604,
				Avg: 1150 * time.Microsecond, P50: 200 * time.Microsecond, P99: 4 * time.Millisecond,
				Rcodes:  map[string]int64{"NOERROR": 3, "NXDOMAIN": 1},
				RunTime: 3022045 * time.Microsecond,
			},
		},
		{name: "no statistics", input: "> NOERROR a. A 0.1\n", wantErr: `no "Queries sent"`},
		{name: "bad number", input: "  Queries sent:  many\n", wantErr: "Queries sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDNSPerf(strings.NewReader(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Sent != tt.want.Sent || got.Completed != tt.want.Completed || got.Lost != tt.want.Lost ||
				math.Abs(got.QPS-tt.want.QPS) > 1e-9 || !near(got.Avg, tt.want.Avg) || !near(got.P50, tt.want.P50) ||
				!near(got.P99, tt.want.P99) || !near(got.RunTime, tt.want.RunTime) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			for k, v := range tt.want.Rcodes {
				if got.Rcodes[k] != v {
					t.Errorf("rcode %s = %d, want %d", k, got.Rcodes[k], v)
				}
			}
		})
	}
}

// near compares durations parsed from decimal seconds.
func near(a, b time.Duration) bool {
	d := a - b
	return d > -time.Microsecond && d < time.Microsecond
}

func TestPercentile(t *testing.T) {
	values := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		p    float64
		want float64
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}, {0, 1}}
	for _, tt := range tests {
		if got := percentile(values, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile([]float64(nil), 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestReadMemory(t *testing.T) {
	tests := []struct {
		name, status string
		want         Memory
		wantErr      bool
	}{
		{"both", "Name:\tx\nVmPeak:\t 9 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n", Memory{PeakRSS: 2 << 20, RSS: 1 << 20}, false},
		{"missing", "Name:\tx\nVmRSS:\t 1 kB\n", Memory{}, true},
		{"bad unit", "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", Memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "status")
			if err := os.WriteFile(path, []byte(tt.status), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readMemory(path)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("readMemory = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if m, err := readMemory("/proc/self/status"); err != nil || m.RSS <= 0 || m.PeakRSS < m.RSS {
		t.Errorf("own memory = %+v, %v", m, err)
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name                          string
		scale                         Scale
		services, headless, endpoints int
		firstHeadlessEps, firstWebEps int
	}{
		{"full", FullScale(), 10_000, 1_000, 100_000, 20, 9},
		{"smoke", SmokeScale(), 100, 10, 400, 5, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Generate(tt.scale)
			s, h, e := c.Counts()
			if s != tt.services || h != tt.headless || e != tt.endpoints {
				t.Errorf("counts = %d services, %d headless, %d endpoints", s, h, e)
			}
			if !c.Services[0].Headless || len(c.Services[0].Endpoints) != tt.firstHeadlessEps {
				t.Errorf("service 0 = %+v", c.Services[0])
			}
			if c.Services[1].Headless || len(c.Services[1].Endpoints) != tt.firstWebEps {
				t.Errorf("service 1 has %d endpoints", len(c.Services[1].Endpoints))
			}
			ips := map[string]bool{}
			pods := map[string]bool{}
			for _, svc := range c.Services {
				for _, ep := range svc.Endpoints {
					if ips[ep.IP] || pods[svc.Namespace+"/"+ep.Pod] {
						t.Fatalf("duplicate endpoint %+v", ep)
					}
					ips[ep.IP], pods[svc.Namespace+"/"+ep.Pod] = true, true
				}
			}
		})
	}
}

// testCluster is a small generated cluster with cluster IPs filled in.
func testCluster() (*Cluster, Answers) {
	c := Generate(Scale{Namespaces: 2, Services: 4, HeadlessEvery: 2, HeadlessEndpoints: 2, Endpoints: 6, ZipfServices: 2, ClientNamespaces: 1, ExternalNames: 3, ZipfQueries: 200, MissQueries: 10})
	for i, s := range c.Services {
		if !s.Headless {
			s.ClusterIP = fmt.Sprintf("10.96.0.%d", i+1)
		}
	}
	a := ClusterAnswers(c)
	for k, v := range ExternalAnswers(3) {
		a[k] = v
	}
	return c, a
}

func TestAnswersExpect(t *testing.T) {
	_, a := testCluster()
	tests := []struct {
		q    Query
		want Expect
	}{
		{Query{"db-00000.ns-000.svc.cluster.local.", dns.TypeA}, Expect{dns.RcodeSuccess, []string{"10.128.0.1", "10.128.0.2"}}},
		{Query{"ep-1.db-00000.ns-000.svc.cluster.local.", dns.TypeA}, Expect{dns.RcodeSuccess, []string{"10.128.0.2"}}},
		{Query{"web-00001.ns-001.svc.cluster.local.", dns.TypeA}, Expect{dns.RcodeSuccess, []string{"10.96.0.2"}}},
		{Query{"WEB-00001.ns-001.svc.cluster.local.", dns.TypeAAAA}, Expect{dns.RcodeSuccess, nil}},
		{Query{"_http._tcp.web-00001.ns-001.svc.cluster.local.", dns.TypeSRV}, Expect{dns.RcodeSuccess, []string{"80 web-00001.ns-001.svc.cluster.local."}}},
		{Query{"_db._tcp.db-00000.ns-000.svc.cluster.local.", dns.TypeSRV}, Expect{dns.RcodeSuccess, []string{"5432 ep-0.db-00000.ns-000.svc.cluster.local.", "5432 ep-1.db-00000.ns-000.svc.cluster.local."}}},
		{Query{"nope.ns-000.svc.cluster.local.", dns.TypeA}, Expect{dns.RcodeNameError, nil}},
		{Query{"host-00002.example.com.", dns.TypeA}, Expect{dns.RcodeSuccess, []string{"198.18.0.2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.q.Name+dns.TypeToString[tt.q.Type], func(t *testing.T) {
			got := a.Expect(tt.q)
			if got.Rcode != tt.want.Rcode || !slices.Equal(got.Answers, tt.want.Answers) {
				t.Errorf("Expect = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestZoneFileParses(t *testing.T) {
	_, a := testCluster()
	zone := ZoneFile("cluster.local.", 30, a)
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	got := Answers{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch rr := rr.(type) {
		case *dns.A:
			if rr.Hdr.Name != "ns.dns.cluster.local." {
				got.add(rr.Hdr.Name, dns.TypeA, rr.A.String())
			}
		case *dns.SRV:
			got.add(rr.Hdr.Name, dns.TypeSRV, fmt.Sprintf("%d %s", rr.Port, rr.Target))
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("zone does not parse: %v\n%s", err, zone)
	}
	for name, types := range a {
		if !dns.IsSubDomain("cluster.local.", name) {
			continue
		}
		for qtype := range types {
			q := Query{name, qtype}
			if w, g := a.Expect(q), got.Expect(q); !slices.Equal(w.Answers, g.Answers) {
				t.Errorf("%s %s: zone has %v, want %v", name, dns.TypeToString[qtype], g.Answers, w.Answers)
			}
		}
	}
}

func TestResolverQueries(t *testing.T) {
	_, a := testCluster()
	tests := []struct {
		name string
		l    lookup
		want []string
	}{
		{"short service name goes through the search list", lookup{"web-00001.ns-001", dns.TypeA}, []string{
			"web-00001.ns-001.client-0.svc.cluster.local. A", "web-00001.ns-001.client-0.svc.cluster.local. AAAA",
			"web-00001.ns-001.svc.cluster.local. A", "web-00001.ns-001.svc.cluster.local. AAAA",
		}},
		{"SRV name with ndots dots is asked as is", lookup{"_http._tcp.web-00001.ns-001.svc.cluster.local.", dns.TypeSRV}, []string{
			"_http._tcp.web-00001.ns-001.svc.cluster.local. SRV",
		}},
		{"a missing short name tries every domain, then as is", lookup{"nope.ns-000", dns.TypeA}, []string{
			"nope.ns-000.client-0.svc.cluster.local. A", "nope.ns-000.client-0.svc.cluster.local. AAAA",
			"nope.ns-000.svc.cluster.local. A", "nope.ns-000.svc.cluster.local. AAAA",
			"nope.ns-000.cluster.local. A", "nope.ns-000.cluster.local. AAAA",
			"nope.ns-000. A", "nope.ns-000. AAAA",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, q := range resolverQueries(tt.l, "client-0", "cluster.local", a) {
				got = append(got, q.Name+" "+dns.TypeToString[q.Type])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestGenerateWorkloads(t *testing.T) {
	c, a := testCluster()
	s := Scale{ZipfServices: 2, ClientNamespaces: 1, ExternalNames: 3, ZipfQueries: 200, MissQueries: 10}
	w := GenerateWorkloads(c, s, a, 1)
	if len(w.Hit.Queries) != 1 || !a.Exists(w.Hit.Queries[0].Name) {
		t.Errorf("hit = %v", w.Hit.Queries)
	}
	if len(w.Zipf.Queries) < s.ZipfQueries {
		t.Errorf("zipf has %d queries", len(w.Zipf.Queries))
	}
	nx := 0
	for _, q := range w.Zipf.Queries {
		if !a.Exists(q.Name) {
			nx++
		}
	}
	if nx == 0 || nx == len(w.Zipf.Queries) {
		t.Errorf("zipf NXDOMAIN share %d of %d", nx, len(w.Zipf.Queries))
	}
	asked := map[Query]bool{}
	for _, q := range w.Zipf.Queries {
		asked[q] = true
	}
	seen := map[Query]bool{}
	for _, wl := range []Workload{w.Miss, w.MissHalfRate, w.MissFixedRate} {
		if len(wl.Queries) != s.MissQueries || !wl.Once {
			t.Errorf("%s: %d queries, once %v", wl.ID, len(wl.Queries), wl.Once)
		}
		for _, q := range wl.Queries {
			if seen[q] || asked[q] {
				t.Errorf("%s asks %v twice or after the Zipf workload", wl.ID, q)
			}
			seen[q] = true
		}
	}
	for _, q := range w.External.Queries {
		if !dns.IsSubDomain(ExternalZone, q.Name) || !a.Exists(q.Name) {
			t.Errorf("external question %v", q)
		}
	}
	path := filepath.Join(t.TempDir(), "q")
	if err := WriteQueryFile(path, w.Hit.Queries); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != w.Hit.Queries[0].Name+" A\n" {
		t.Errorf("query file = %q", data)
	}
}

func TestCheckAnswer(t *testing.T) {
	q := Query{"a.ns.svc.cluster.local.", dns.TypeA}
	reply := func(rcode int, rrs ...string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Type)
		m.Rcode = rcode
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		return m
	}
	tests := []struct {
		name string
		want Expect
		r    *dns.Msg
		ok   bool
	}{
		{"same set in another order", Expect{0, []string{"10.0.0.1", "10.0.0.2"}}, reply(0, "a.ns.svc.cluster.local. 30 IN A 10.0.0.2", "a.ns.svc.cluster.local. 30 IN A 10.0.0.1"), true},
		{"missing address", Expect{0, []string{"10.0.0.1", "10.0.0.2"}}, reply(0, "a.ns.svc.cluster.local. 30 IN A 10.0.0.2"), false},
		{"NXDOMAIN wanted", Expect{dns.RcodeNameError, nil}, reply(0), false},
		{"NODATA", Expect{0, nil}, reply(0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := CheckAnswer(q, tt.want, tt.r); (msg == "") != tt.ok {
				t.Errorf("CheckAnswer = %q, want ok %v", msg, tt.ok)
			}
		})
	}
}

func TestCorefile(t *testing.T) {
	cfg := CoreDNSConfig{Kubeconfig: "/k", Pods: "verified", Upstream: "127.0.0.1:5300", Domain: "cluster.local"}
	tests := []struct {
		name     string
		cache    bool
		want     []string
		wantNone []string
	}{
		{"kubeadm", false, []string{".:1053 {", "kubeconfig /k", "pods verified", "disable success cluster.local", "disable denial cluster.local", "forward . 127.0.0.1:5300", "ready 127.0.0.1:2"}, nil},
		{"nodelocal-like", true, []string{"    cache 30\n"}, []string{"disable success"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.ClusterCache = tt.cache
			got := Corefile(c, "127.0.0.1:1053", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Corefile lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("Corefile has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestWritePNG(t *testing.T) {
	charts := []BarChart{
		{Title: "QPS", Unit: "QPS", Groups: []string{"a", "b"}, Series: []string{"x", "y"}, Values: [][]float64{{1000, 52000}, {math.NaN(), 3}}},
		{Title: "empty", Unit: "MB"},
	}
	var buf bytes.Buffer
	if err := WritePNG(&buf, 600, charts); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 600 || b.Dy() != 2*chartHeight {
		t.Errorf("image is %v", b)
	}
}

func TestHumanValueAndNiceStep(t *testing.T) {
	values := []struct {
		v    float64
		want string
	}{{0, "0"}, {0.5, "0.5"}, {12, "12"}, {1500, "1.5k"}, {52000, "52k"}, {1200000, "1.2M"}}
	for _, tt := range values {
		if got := humanValue(tt.v); got != tt.want {
			t.Errorf("humanValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	steps := []struct{ raw, want float64 }{{0, 1}, {0.3, 0.5}, {7, 10}, {26000, 50000}, {1500, 2000}}
	for _, tt := range steps {
		if got := niceStep(tt.raw); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	r := &Report{
		Mode: "smoke", Systems: suiteSystems(),
		Workloads: []Workload{{ID: "hit", Title: "(1) one name, cache hits", Note: "n"}, {ID: "external", Title: "(4) external", Note: "e"}},
		Perf: map[string]map[string]*Cell{
			"hit": {
				sysClusterDNS: {Result: &PerfResult{QPS: 80000, Sent: 100}},
				sysCoreDNS:    {Result: &PerfResult{QPS: 20000, Sent: 100}},
				sysNSD:        {Result: &PerfResult{QPS: 100000, Sent: 100}},
			},
			"external": {sysClusterDNS: {NA: "frontend has no forwarding yet"}},
		},
	}
	md := r.Markdown()
	for _, want := range []string{"| clusterdns | 80000 |", "4.00x", "0.80x", "n/a: frontend has no forwarding yet"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		pid, ppid int
		ticks     uint64
		wantErr   bool
	}{
		{"plain", "42 (nsd) S 7 42 42 0 -1 4194560 100 0 0 0 15 5 0 0 20 0 1 0 100 1000 10", 42, 7, 20, false},
		{"name with spaces and parentheses", "9 (a b) c)) R 1 9 9 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1", 9, 1, 7, false},
		{"truncated", "9 (x) R 1", 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ppid, ticks, err := parseStat([]byte(tt.line))
			if (err != nil) != tt.wantErr || pid != tt.pid || ppid != tt.ppid || ticks != tt.ticks {
				t.Errorf("parseStat = %d %d %d %v", pid, ppid, ticks, err)
			}
		})
	}
}

func TestCPUSnapshot(t *testing.T) {
	before, err := TakeCPUSnapshot(Unpinned, []int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := TakeCPUSnapshot(Unpinned, []int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if after.CPUAll <= before.CPUAll || after.Processes < before.Processes {
		t.Errorf("snapshots do not advance: %+v then %+v", before, after)
	}
	if own, foreign := CPUShares(before, after); own < 0 || own > 1 || foreign < 0 || foreign > 1 {
		t.Errorf("shares %v %v", own, foreign)
	}
	if p := ProcessShare(before, after, os.Getpid()); p < 0 || p > 1 || after.PerProcess[os.Getpid()] != after.Processes {
		t.Errorf("process share %v, per process %v of %d", p, after.PerProcess, after.Processes)
	}
	tests := []struct {
		name          string
		before, after CPUSnapshot
		own, foreign  float64
	}{
		{"half own, idle rest", CPUSnapshot{}, CPUSnapshot{CPUBusy: 50, CPUAll: 100, Processes: 50}, 0.5, 0},
		{"half foreign", CPUSnapshot{}, CPUSnapshot{CPUBusy: 80, CPUAll: 100, Processes: 30}, 0.3, 0.5},
		{"no time", CPUSnapshot{CPUBusy: 5, CPUAll: 5, Processes: 5}, CPUSnapshot{CPUBusy: 5, CPUAll: 5, Processes: 5}, 0, 0},
	}
	if own, foreign := DurationShare(CPUSnapshot{}, CPUSnapshot{CPUBusy: 90, CPUAll: 100}, 600*time.Millisecond); math.Abs(own-0.6) > 1e-9 || math.Abs(foreign-0.3) > 1e-9 {
		t.Errorf("DurationShare = %v, %v; want 0.6, 0.3", own, foreign)
	}
	for _, tt := range tests {
		own, foreign := CPUShares(tt.before, tt.after)
		if math.Abs(own-tt.own) > 1e-9 || math.Abs(foreign-tt.foreign) > 1e-9 {
			t.Errorf("%s: CPUShares = %v, %v; want %v, %v", tt.name, own, foreign, tt.own, tt.foreign)
		}
	}
}

func TestEtcdWriterPut(t *testing.T) {
	var got struct{ Key, Value string }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v3/kv/put" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"header":{"revision":"2"}}`)
	}))
	defer srv.Close()
	w := NewEtcdWriter(srv.URL, 1)
	defer w.Close()
	svc := &Service{Namespace: "ns-000", Name: "db-00000", Headless: true, Ports: []ServicePort{{"db", 5432}}}
	ep := Endpoint{IP: "10.128.0.1", Hostname: "ep-0", Pod: "db-00000-0"}
	if err := w.Put(t.Context(), "pods", svc.Namespace, ep.Pod, storedPod(svc, ep, 3, metav1.Now())); err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(got.Key)
	if string(key) != "/registry/pods/ns-000/db-00000-0" {
		t.Errorf("key = %q", key)
	}
	value, _ := base64.StdEncoding.DecodeString(got.Value)
	if !bytes.HasPrefix(value, []byte("k8s\x00")) {
		t.Fatalf("value lacks the protobuf storage prefix: %q", value[:min(8, len(value))])
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(value, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Status.PodIP != ep.IP || pod.Status.Phase != corev1.PodRunning || pod.Spec.Subdomain != svc.Name || pod.UID == "" {
		t.Errorf("stored pod = %+v", obj)
	}

	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "etcdserver: too many requests", http.StatusTooManyRequests)
	})
	if err := w.Put(t.Context(), "pods", "ns", "x", storedPod(svc, ep, 0, metav1.Now())); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("Put to a failing etcd: err = %v", err)
	}
}
