package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	// conformanceFixture holds the Namespaces, Services, EndpointSlices and
	// Pods the conformance rows (conformanceRows, conformance_rows_test.go)
	// are answered from.
	conformanceFixture = "testdata/conformance.yaml"
	// podIPsAnnotation on a fixture Pod lists the IPs (comma-separated) the
	// runner gives it through the status subresource, playing the kubelet.
	podIPsAnnotation = "clusterdns.test/pod-ips"
)

// TestConformance asks every conformance row's question through the real
// path (frontend over UDP and over TCP -> record service -> kube-apiserver
// holding the fixture) and compares the rcode and the answer, authority and
// additional sections with the row, ignoring TTLs, SOA serials, record order
// and the OPT record.
func TestConformance(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	applyFixture(t, c, conformanceFixture)

	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "insecure")
	fe := stack.StartFrontend(t, bins, rs.Addr)
	// The fixture was complete before the record service started, so its
	// first sync holds all of it: once it answers, every row can be asked.
	stack.Eventually(t, syncTimeout, fe.Addr, "kubernetes.default.svc.cluster.local", dns.TypeA, false, func(r *dns.Msg) string {
		return checkAnswer(t, r, "kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1")
	})

	rows := conformanceRows()
	if len(rows) == 0 {
		t.Fatal("conformanceRows() is empty")
	}
	for _, tcp := range transports {
		t.Run(stack.Transport(tcp), func(t *testing.T) {
			unanswered := 0
			for _, row := range rows {
				t.Run(row.Name+" "+dns.TypeToString[row.Qtype], func(t *testing.T) {
					if checkRow(t, fe.Addr, row, tcp) {
						unanswered = 0
					} else {
						unanswered++
					}
				})
				if unanswered >= maxUnanswered {
					t.Fatalf("%d questions in a row got no reply: the frontend is not answering", unanswered)
				}
			}
		})
	}
}

// maxUnanswered stops a conformance run after this many consecutive
// questions without a reply, instead of timing out on every row.
const maxUnanswered = 3

// checkRow asks row's question and compares the reply with it. It returns
// false when no reply came.
func checkRow(t *testing.T, addr string, row conformanceRow, tcp bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := stack.Exchange(ctx, addr, stack.NewQuery(row.Name, row.Qtype), tcp)
	if err != nil {
		t.Errorf("%s %s over %s: %v", row.Name, dns.TypeToString[row.Qtype], stack.Transport(tcp), err)
		return false
	}
	answer, ns, extra := parseRRs(t, row.Answer), parseRRs(t, row.Ns), parseRRs(t, row.Extra)
	var problems []string
	if r.Rcode != row.Rcode {
		problems = append(problems, fmt.Sprintf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[row.Rcode]))
	}
	if r.Truncated && !tcp {
		// Over UDP a reply larger than the advertised EDNS size is truncated;
		// the TCP run compares its full content.
		if size := expectedSize(row, answer, ns, extra); size <= stack.EDNSBufferSize {
			problems = append(problems, fmt.Sprintf("TC set although the expected reply (%d bytes) fits in %d", size, stack.EDNSBufferSize))
		}
	} else {
		for _, s := range []struct {
			name      string
			want, got []dns.RR
		}{{"answer", answer, r.Answer}, {"authority", ns, r.Ns}, {"additional", extra, r.Extra}} {
			if d := sectionDiff(s.name, s.want, s.got); d != "" {
				problems = append(problems, d)
			}
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s %s over %s:\n%s\nreply:\n%v", row.Name, dns.TypeToString[row.Qtype], stack.Transport(tcp), strings.Join(problems, "\n"), r)
	}
	return true
}

// expectedSize is the wire size of the reply the row describes, with the
// same EDNS0 OPT record the query carried.
func expectedSize(row conformanceRow, answer, ns, extra []dns.RR) int {
	m := stack.NewQuery(row.Name, row.Qtype)
	m.Response = true
	m.Rcode = row.Rcode
	m.Answer, m.Ns = answer, ns
	m.Extra = append(slices.Clone(extra), m.Extra...)
	m.Compress = true
	return m.Len()
}

// applyFixture creates the objects of a multi-document YAML file in an order
// the API server accepts without a controller manager: Namespaces, then the
// other objects except Pods, then a `default` ServiceAccount in every
// namespace that has Pods (ServiceAccount admission requires it), then the
// Pods, whose IPs are finally set from their podIPsAnnotation.
func applyFixture(t *testing.T, c *kubecluster.Cluster, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	objs, err := decodeObjects(data)
	if err != nil {
		t.Fatalf("fixture %s: %v", path, err)
	}
	var namespaces, others, pods []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace":
			namespaces = append(namespaces, o)
		case "Pod":
			pods = append(pods, o)
		default:
			others = append(others, o)
		}
	}
	for _, group := range [][]*unstructured.Unstructured{namespaces, others} {
		applyObjects(t, c, group)
	}
	podNamespaces := map[string]bool{}
	for _, p := range pods {
		podNamespaces[namespaceOf(p)] = true
	}
	for ns := range podNamespaces {
		c.CreateServiceAccount(t, ns, "default")
	}
	applyObjects(t, c, pods)
	for _, p := range pods {
		value, ok := p.GetAnnotations()[podIPsAnnotation]
		if !ok {
			continue
		}
		var ips []string
		for ip := range strings.SplitSeq(value, ",") {
			if ip = strings.TrimSpace(ip); ip != "" {
				ips = append(ips, ip)
			}
		}
		c.SetPodIPs(t, namespaceOf(p), p.GetName(), ips)
	}
}

// namespaceOf is the object's namespace, `default` when the manifest omits it.
func namespaceOf(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns
	}
	return "default"
}

// applyObjects applies objects with one kubectl call (a v1 List).
func applyObjects(t *testing.T, c *kubecluster.Cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	if len(objs) == 0 {
		return
	}
	items := make([]map[string]any, 0, len(objs))
	for _, o := range objs {
		items = append(items, o.Object)
	}
	list, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	c.Apply(t, string(list))
}

// decodeObjects splits multi-document YAML (or JSON) into objects, skipping
// empty documents.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("document %d: no kind or apiVersion", i)
		}
		objs = append(objs, u)
	}
}
