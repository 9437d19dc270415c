package release

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// checkServe runs the record service and a frontend extracted from the amd64
// images (dir holds them) on loopback, the record service on the example
// cluster file, and checks that both report the stamped version and
// revision in clusterdns_build_info and that the frontend answers from the
// record service.
func checkServe(t *testing.T, dir, version, revision string) {
	bins := stack.Binaries{Frontend: filepath.Join(dir, "frontend"), RecordService: filepath.Join(dir, "recordsvc")}
	rs := stack.StartRecordService(t, bins, "--source", "file:../../../deploy/examples/cluster.yaml")
	fe := stack.StartFrontend(t, bins, rs.Addr)
	stack.Eventually(t, 10*time.Second, fe.Addr, "kubernetes.default.svc.cluster.local.", dns.TypeA, false, func(m *dns.Msg) string {
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			return "no answer yet: " + dns.RcodeToString[m.Rcode]
		}
		return ""
	})
	stamped := map[string]string{"version": version, "revision": revision}
	for _, p := range []*stack.Process{rs, fe} {
		if got := stack.ScrapeMetrics(t, p.MetricsAddr).SumWhere("clusterdns_build_info", stamped); got != 1 {
			t.Errorf("%s: clusterdns_build_info%v is %v, want 1", p.Name, stamped, got)
		}
	}
}
