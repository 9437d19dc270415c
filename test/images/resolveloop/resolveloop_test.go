package resolveloop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/images/dnstest"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		arg     string
		want    Target
		wantErr bool
	}{
		{arg: "a.b=any", want: Target{Name: "a.b", Any: true}},
		{arg: "x.=NXDOMAIN", want: Target{Name: "x.", NXDomain: true}},
		{arg: "k=10.96.0.1", want: Target{Name: "k", Addrs: []netip.Addr{netip.MustParseAddr("10.96.0.1")}}},
		{arg: "h=10.0.0.1,fd00::1", want: Target{Name: "h", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}}},
		{arg: "noexpect", wantErr: true},
		{arg: "=any", wantErr: true},
		{arg: "a=", wantErr: true},
		{arg: "a=nxdomain", wantErr: true},
		{arg: "a=1.2.3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := ParseTarget(tt.arg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	a := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	exact := Target{Name: "s", Addrs: a("10.0.0.1", "10.0.0.2")}
	tests := []struct {
		name       string
		target     Target
		result     Result
		want       Class
		wantReason string
	}{
		{"exact match", exact, Result{Addrs: a("10.0.0.2")}, OK, ""},
		{"mapped address matches", exact, Result{Addrs: a("::ffff:10.0.0.1")}, OK, ""},
		{"one address outside", exact, Result{Addrs: a("10.0.0.1", "10.0.0.3")}, Wrong, "unexpected address 10.0.0.3"},
		{"nxdomain for existing", exact, Result{NotFound: true}, Wrong, "NXDOMAIN"},
		{"no addresses", exact, Result{}, Wrong, "NXDOMAIN"},
		{"timeout", exact, Result{Err: "i/o timeout"}, Failed, "i/o timeout"},
		{"any", Target{Any: true}, Result{Addrs: a("192.0.2.7")}, OK, ""},
		{"any not found", Target{Any: true}, Result{NotFound: true}, Wrong, "NXDOMAIN"},
		{"nxdomain expected", Target{NXDomain: true}, Result{NotFound: true}, OK, ""},
		{"nxdomain but exists", Target{NXDomain: true}, Result{Addrs: a("::ffff:192.0.2.7")}, Wrong, "exists: 192.0.2.7"},
		{"nxdomain expected, servfail", Target{NXDomain: true}, Result{Err: "server misbehaving"}, Failed, "server misbehaving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := tt.target.Classify(tt.result)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %v %q, want %v %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr bool
	}{
		{name: "defaults", args: []string{"a=any"}, want: Options{Targets: []Target{{Name: "a", Any: true}},
			Rate: 10, Duration: time.Minute, Workers: 8, Report: 5 * time.Second, Family: "any"}},
		{name: "all flags", args: []string{"-rate", "50", "--duration=2.5", "-count", "7", "-workers", "2", "-report", "0.5", "-family", "4", "a=NXDOMAIN"},
			want: Options{Targets: []Target{{Name: "a", NXDomain: true}}, Rate: 50, Duration: 2500 * time.Millisecond,
				Count: 7, Workers: 2, Report: 500 * time.Millisecond, Family: "4"}},
		{name: "no names", args: []string{"-rate", "5"}, wantErr: true},
		{name: "zero rate", args: []string{"-rate", "0", "a=any"}, wantErr: true},
		{name: "unbounded duration", args: []string{"-duration", "0", "a=any"}, wantErr: true},
		{name: "too long", args: []string{"-duration", "86401", "a=any"}, wantErr: true},
		{name: "negative count", args: []string{"-count", "-1", "a=any"}, wantErr: true},
		{name: "too many workers", args: []string{"-workers", "257", "a=any"}, wantErr: true},
		{name: "bad family", args: []string{"-family", "inet", "a=any"}, wantErr: true},
		{name: "bad target", args: []string{"a"}, wantErr: true},
		{name: "unknown flag", args: []string{"-qps", "5", "a=any"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Output is a run's output split by event.
type Output struct {
	Start    map[string]any
	Failures []map[string]any
	Reports  []map[string]any
	Final    map[string]any
}

// ParseOutput checks that every line is one JSON object, start first and
// final last.
func parseOutput(t *testing.T, out []byte) Output {
	t.Helper()
	var o Output
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %q: %v", n+1, sc.Text(), err)
		}
		if o.Final != nil {
			t.Fatalf("line after the final line: %s", sc.Text())
		}
		switch ev := m["event"]; {
		case n == 0 && ev != "start":
			t.Fatalf("first line is not start: %s", sc.Text())
		case ev == "start":
			o.Start = m
		case ev == "failure":
			o.Failures = append(o.Failures, m)
		case ev == "report":
			o.Reports = append(o.Reports, m)
		case ev == "final":
			o.Final = m
		default:
			t.Fatalf("unknown event: %s", sc.Text())
		}
		n++
	}
	if o.Final == nil {
		t.Fatalf("no final line in %s", out)
	}
	return o
}

func finalCounts(m map[string]any) [4]float64 {
	return [4]float64{m["lookups"].(float64), m["ok"].(float64), m["failed"].(float64), m["wrong"].(float64)}
}

// TestRunGoResolver runs the Go build's lookups against a DNS server on
// loopback: every outcome class, counted and reported.
func TestRunGoResolver(t *testing.T) {
	srv, err := dnstest.Start("127.0.0.1", 0, map[string]string{"ok.test.": "192.0.2.1", "wrong.test.": "192.0.2.99"}, []string{"servfail.test."})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr.String())
	}}
	o, err := Parse([]string{"-rate", "200", "-duration", "60", "-count", "10", "-workers", "4", "-report", "0.01",
		"ok.test.=192.0.2.1", "nx.test.=NXDOMAIN", "wrong.test.=192.0.2.1", "missing.test.=any", "servfail.test.=any"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	totals, err := Run(context.Background(), o, "go", GoLookup(r), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Totals{Lookups: 10, OK: 4, Failed: 2, Wrong: 4}); totals.Lookups != want.Lookups ||
		totals.OK != want.OK || totals.Failed != want.Failed || totals.Wrong != want.Wrong {
		t.Errorf("totals = %+v, want %+v", totals, want)
	}
	got := parseOutput(t, out.Bytes())
	if got.Start["client"] != "go" || got.Start["names"] != 5.0 {
		t.Errorf("start line = %v", got.Start)
	}
	if c := finalCounts(got.Final); c != [4]float64{10, 4, 2, 4} {
		t.Errorf("final counts = %v", c)
	}
	reasons := map[string]int{}
	for _, f := range got.Failures {
		reasons[f["name"].(string)+" "+f["class"].(string)]++
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", f["time"].(string)); err != nil {
			t.Errorf("failure time: %v", err)
		}
		if f["name"] == "wrong.test." && f["reason"] != "unexpected address 192.0.2.99" {
			t.Errorf("wrong address reason = %v", f["reason"])
		}
		if f["name"] == "missing.test." && f["reason"] != "NXDOMAIN" {
			t.Errorf("missing name reason = %v", f["reason"])
		}
	}
	want := map[string]int{"wrong.test. wrong": 2, "missing.test. wrong": 2, "servfail.test. failed": 2}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("failures = %v, want %v", reasons, want)
	}
	for _, r := range got.Reports {
		if c := finalCounts(r); c[0] != c[1]+c[2]+c[3] {
			t.Errorf("report counts do not add up: %v", r)
		}
	}
}

// TestRunBounds checks that a run ends by count or by time with exactly the
// lookups its schedule allows.
func TestRunBounds(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		duration time.Duration
		count    int
		want     int64
	}{
		{"count ends it", 1000, time.Minute, 25, 25},
		// Lookups k = 0..9 are due before 0.1 s at 100/s.
		{"time ends it", 100, 100 * time.Millisecond, 0, 10},
		{"time before count", 100, 100 * time.Millisecond, 50, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Targets: []Target{{Name: "a", Any: true}, {Name: "b", Any: true}},
				Rate: tt.rate, Duration: tt.duration, Count: tt.count, Workers: 3, Report: time.Hour, Family: "any"}
			var names [2]atomic.Int64
			lookup := func(_ context.Context, name, _ string) Result {
				names[name[0]-'a'].Add(1)
				return Result{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
			}
			var out bytes.Buffer
			totals, err := Run(context.Background(), o, "go", lookup, &out)
			if err != nil {
				t.Fatal(err)
			}
			if totals.Lookups != tt.want || totals.OK != tt.want {
				t.Errorf("totals = %+v, want %d lookups", totals, tt.want)
			}
			// Names are taken in turn.
			if a, b := names[0].Load(), names[1].Load(); a+b != tt.want || a-b > 1 || b > a {
				t.Errorf("lookups per name %d, %d", a, b)
			}
			if c := finalCounts(parseOutput(t, out.Bytes()).Final); c != [4]float64{float64(tt.want), float64(tt.want), 0, 0} {
				t.Errorf("final counts = %v", c)
			}
		})
	}
}

// TestRunCancel stops a long run early: the final line is still printed and
// the lookup cut short by the cancellation is not counted.
func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	lookup := func(ctx context.Context, _, _ string) Result {
		if calls.Add(1) == 3 {
			cancel()
			<-ctx.Done()
			return Result{Err: ctx.Err().Error()}
		}
		return Result{NotFound: true}
	}
	o := Options{Targets: []Target{{Name: "x", NXDomain: true}}, Rate: 100, Duration: time.Hour, Workers: 1, Report: time.Hour, Family: "any"}
	var out bytes.Buffer
	totals, err := Run(ctx, o, "go", lookup, &out)
	if err != nil {
		t.Fatal(err)
	}
	if totals.Lookups != 2 || totals.OK != 2 {
		t.Errorf("totals = %+v, want the 2 lookups before the cancel", totals)
	}
	if !strings.Contains(out.String(), `"event":"final"`) {
		t.Errorf("no final line: %s", out.String())
	}
}
