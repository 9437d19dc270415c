package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	// syncTimeout bounds the wait for a fresh record service to answer.
	syncTimeout = 30 * time.Second
	// changeTimeout bounds the wait for an API change to show in answers.
	changeTimeout = 30 * time.Second
	// cacheHitsMetric counts responses the frontend served from its cache.
	cacheHitsMetric = "clusterdns_frontend_cache_hits_total"
)

// transports are the two ways every question is asked.
var transports = []bool{false, true}

// TestClusterDNSFlow walks the cluster DNS flow against a real API server:
// a pod's question reaches a frontend over UDP or TCP, the frontend asks the
// record service, which answers from informers on the kube-apiserver.
func TestClusterDNSFlow(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	fe := stack.StartFrontend(t, bins, rs.Addr)
	const kubernetesName = "kubernetes.default.svc.cluster.local"
	kubernetesA := kubernetesName + ". 30 IN A 10.96.0.1"

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("record service syncs and answers kubernetes.default", func(t *testing.T) {
		stack.Eventually(t, syncTimeout, fe.Addr, kubernetesName, dns.TypeA, false, func(r *dns.Msg) string {
			return checkAnswer(t, r, kubernetesA)
		})
	})

	for _, tcp := range transports {
		step("kubernetes.default A over "+stack.Transport(tcp), func(t *testing.T) {
			r := stack.Query(t, fe.Addr, kubernetesName, dns.TypeA, tcp)
			if complaint := checkAnswer(t, r, kubernetesA); complaint != "" {
				t.Fatalf("%s\n%v", complaint, r)
			}
		})
	}

	step("a repeated question is a cache hit", func(t *testing.T) {
		// The cache fills asynchronously (ristretto), so ask until a hit is
		// counted, within a bound.
		before := stack.ScrapeMetrics(t, fe.MetricsAddr).Sum(cacheHitsMetric)
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := stack.Query(t, fe.Addr, kubernetesName, dns.TypeA, false)
			if complaint := checkAnswer(t, r, kubernetesA); complaint != "" {
				t.Fatalf("%s\n%v", complaint, r)
			}
			after := stack.ScrapeMetrics(t, fe.MetricsAddr).Sum(cacheHitsMetric)
			if after > before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s stayed at %v while the same question was asked again", cacheHitsMetric, after)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	for _, tcp := range transports {
		step("kubernetes.default AAAA is NODATA over "+stack.Transport(tcp), func(t *testing.T) {
			r := stack.Query(t, fe.Addr, kubernetesName, dns.TypeAAAA, tcp)
			if complaint := checkNegative(r, dns.RcodeSuccess); complaint != "" {
				t.Fatalf("%s\n%v", complaint, r)
			}
		})
		step("unknown.svc.cluster.local is NXDOMAIN over "+stack.Transport(tcp), func(t *testing.T) {
			r := stack.Query(t, fe.Addr, "unknown.svc.cluster.local", dns.TypeA, tcp)
			if complaint := checkNegative(r, dns.RcodeNameError); complaint != "" {
				t.Fatalf("%s\n%v", complaint, r)
			}
		})
	}

	const webName = "flow-web.default.svc.cluster.local"
	step("a Service that does not exist yet is NXDOMAIN", func(t *testing.T) {
		for _, tcp := range transports {
			r := stack.Query(t, fe.Addr, webName, dns.TypeA, tcp)
			if complaint := checkNegative(r, dns.RcodeNameError); complaint != "" {
				t.Fatalf("over %s: %s\n%v", stack.Transport(tcp), complaint, r)
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var web *corev1.Service
	step("a created dual-stack Service resolves", func(t *testing.T) {
		dualStack := corev1.IPFamilyPolicyRequireDualStack
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "flow-web"},
			Spec: corev1.ServiceSpec{
				IPFamilyPolicy: &dualStack,
				IPFamilies:     []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
				Selector:       map[string]string{"app": "flow-web"},
				Ports:          []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		var err error
		web, err = c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(web.Spec.ClusterIPs) != 2 {
			t.Fatalf("clusterIPs %v, want one IPv4 and one IPv6", web.Spec.ClusterIPs)
		}
		want := map[uint16]string{
			dns.TypeA:    fmt.Sprintf("%s. 30 IN A %s", webName, web.Spec.ClusterIPs[0]),
			dns.TypeAAAA: fmt.Sprintf("%s. 30 IN AAAA %s", webName, web.Spec.ClusterIPs[1]),
		}
		for _, tcp := range transports {
			for qtype, rr := range want {
				stack.Eventually(t, changeTimeout, fe.Addr, webName, qtype, tcp, func(r *dns.Msg) string {
					return checkAnswer(t, r, rr)
				})
			}
		}
	})

	step("a deleted Service is NXDOMAIN with the zone SOA", func(t *testing.T) {
		if err := c.Client.CoreV1().Services("default").Delete(ctx, web.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, tcp := range transports {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
				stack.Eventually(t, changeTimeout, fe.Addr, webName, qtype, tcp, func(r *dns.Msg) string {
					return checkNegative(r, dns.RcodeNameError)
				})
			}
		}
	})

	step("kubernetes.default still resolves", func(t *testing.T) {
		for _, tcp := range transports {
			r := stack.Query(t, fe.Addr, kubernetesName, dns.TypeA, tcp)
			if complaint := checkAnswer(t, r, kubernetesA); complaint != "" {
				t.Fatalf("over %s: %s\n%v", stack.Transport(tcp), complaint, r)
			}
		}
	})
}
