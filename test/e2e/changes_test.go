package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// Helpers of the tests that change cluster state through the API server and
// follow the answers of the frontends: object builders, API writes, and
// answer states that can be compared and told apart.

const (
	// propagationBound is the longest a change may take to show in a
	// frontend's answer. Record TTLs are 30 s and the frontends keep cluster
	// answers for minutes, so seeing a change within this bound proves that
	// an invalidation, not an expiry, removed the cached answer.
	propagationBound = 5 * time.Second
	// propagationPoll is the interval between questions while waiting for a
	// change.
	propagationPoll = 10 * time.Millisecond
	// cachedTimeout bounds the wait for an answer to be cached (ristretto
	// stores entries asynchronously).
	cachedTimeout = 5 * time.Second
	// apiTimeout bounds one API write.
	apiTimeout = 30 * time.Second
	// serviceNameLabel joins an EndpointSlice to its Service.
	serviceNameLabel = "kubernetes.io/service-name"
)

// answerState is the part of a reply a cluster change moves: the rcode and
// the answer section, normalized (TTLs zeroed, records sorted), as one
// comparable string.
type answerState string

// stateOf returns the answer state of a reply.
func stateOf(r *dns.Msg) answerState {
	return answerState(dns.RcodeToString[r.Rcode] + "\n" + strings.Join(normalized(r.Answer), "\n"))
}

// expect is an expected reply: its rcode and answer records (presentation
// format, any TTL).
type expect struct {
	rcode   int
	records []string
}

// answer expects NOERROR with the records.
func answer(records ...string) expect {
	return expect{rcode: dns.RcodeSuccess, records: records}
}

// nxdomain expects NXDOMAIN.
func nxdomain() expect {
	return expect{rcode: dns.RcodeNameError}
}

// state is the answer state of the expected reply; a malformed record fails t.
func (e expect) state(t testing.TB) answerState {
	t.Helper()
	return answerState(dns.RcodeToString[e.rcode] + "\n" + strings.Join(normalized(parseRRs(t, e.records)), "\n"))
}

// String shows the state on one line for messages.
func (s answerState) String() string {
	rcode, records, _ := strings.Cut(string(s), "\n")
	if records == "" {
		return rcode + " (no answer)"
	}
	return rcode + " [" + strings.ReplaceAll(records, "\n", "; ") + "]"
}

// question is one DNS question asked of the frontends.
type question struct {
	name  string
	qtype uint16
}

func (q question) String() string {
	return q.name + " " + dns.TypeToString[q.qtype]
}

// ask sends q to a frontend and returns the reply's state; it fails t when no
// reply comes.
func ask(t testing.TB, fe *stack.Process, q question, tcp bool) answerState {
	t.Helper()
	return stateOf(stack.Query(t, fe.Addr, q.name, q.qtype, tcp))
}

// cacheHits is the frontend's count of replies served from its cache.
func cacheHits(t testing.TB, fe *stack.Process) float64 {
	t.Helper()
	return stack.ScrapeMetrics(t, fe.MetricsAddr).Sum(cacheHitsMetric)
}

// waitCached asks q until the frontend counts a cache hit for it, which
// proves the answer is cached; every reply must be want. Nothing else may
// query the frontend meanwhile.
func waitCached(t testing.TB, fe *stack.Process, q question, tcp bool, want answerState) {
	t.Helper()
	deadline := time.Now().Add(cachedTimeout)
	for {
		before := cacheHits(t, fe)
		if got := ask(t, fe, q, tcp); got != want {
			t.Fatalf("%s at %s over %s: %v, want %v", q, fe.Addr, stack.Transport(tcp), got, want)
		}
		if cacheHits(t, fe) > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s: no cache hit within %v of asking it repeatedly", q, fe.Addr, cachedTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertCacheHit asks q once and checks that the reply is want and came from
// the frontend's cache (its hit counter moved by one). Nothing else may
// query the frontend meanwhile.
func assertCacheHit(t testing.TB, fe *stack.Process, q question, want answerState) {
	t.Helper()
	before := cacheHits(t, fe)
	got := ask(t, fe, q, false)
	after := cacheHits(t, fe)
	if got != want {
		t.Errorf("%s at %s: %v, want %v", q, fe.Addr, got, want)
	}
	if after != before+1 {
		t.Errorf("%s at %s: not a cache hit (%s went from %v to %v): an unrelated change dropped it from the cache",
			q, fe.Addr, cacheHitsMetric, before, after)
	}
}

// awaitState asks q every propagationPoll until the reply is want, and
// returns how long after since that was. Until then a reply may be one of
// allowed (the state before the change and any transient state the change
// passes through); any other reply, or no want within propagationBound,
// fails t.
func awaitState(t testing.TB, fe *stack.Process, q question, tcp bool, since time.Time, want answerState, allowed ...answerState) time.Duration {
	t.Helper()
	d, err := pollState(fe, q, tcp, since, want, allowed...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pollState asks q every propagationPoll until the reply is want, and
// returns how long after since that was. It returns an error for a reply
// that is neither want nor one of allowed, for an exchange error, and when
// want does not come within propagationBound. It may run on any goroutine.
func pollState(fe *stack.Process, q question, tcp bool, since time.Time, want answerState, allowed ...answerState) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), propagationBound)
	defer cancel()
	last := answerState("")
	for {
		r, err := stack.Exchange(ctx, fe.Addr, stack.NewQuery(q.name, q.qtype), tcp)
		switch {
		case err != nil && ctx.Err() == nil:
			return 0, fmt.Errorf("%s at %s over %s: %w", q, fe.Addr, stack.Transport(tcp), err)
		case err == nil:
			last = stateOf(r)
			if last == want {
				return time.Since(since), nil
			}
			if !slices.Contains(allowed, last) {
				return 0, fmt.Errorf("%s at %s over %s: wrong answer while waiting for the change: %v; want %v or, before it, one of %v",
					q, fe.Addr, stack.Transport(tcp), last, want, allowed)
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s at %s over %s: still %v %v after the change, want %v: the cached answer was not invalidated (record TTL is 30 s)",
				q, fe.Addr, stack.Transport(tcp), last, propagationBound, want)
		case <-time.After(propagationPoll):
		}
	}
}

// clusterIPService is a single-stack IPv4 ClusterIP Service with a fixed
// cluster IP, so that the expected answers are known before it is created.
func clusterIPService(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeClusterIP,
			ClusterIP:      ip,
			ClusterIPs:     []string{ip},
			IPFamilyPolicy: &single,
			IPFamilies:     []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:          ports,
		},
	}
}

// headlessService is a headless Service (clusterIP None).
func headlessService(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: corev1.ClusterIPNone,
			Ports:     ports,
		},
	}
}

// externalNameService is an ExternalName Service pointing at target.
func externalNameService(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

// tcpPort is a named TCP Service port.
func tcpPort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}
}

// endpointSlice is an IPv4 EndpointSlice of service with one named TCP port.
func endpointSlice(ns, name, service, portName string, port int32, endpoints ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	protocol := corev1.ProtocolTCP
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      name,
			Labels:    map[string]string{serviceNameLabel: service},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   endpoints,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Protocol: &protocol, Port: &port}},
	}
}

// endpoint is a slice endpoint with one address, its readiness condition set
// and, unless empty, a hostname.
func endpoint(ip string, ready bool, hostname string) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

// apiContext is the context of one API write.
func apiContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), apiTimeout)
}

// createNamespace creates a namespace.
func createNamespace(t testing.TB, c *kubecluster.Cluster, name string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// createService creates svc and returns it as the API server stored it.
func createService(t testing.TB, c *kubecluster.Cluster, svc *corev1.Service) *corev1.Service {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	got, err := c.Client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service %s/%s: %v", svc.Namespace, svc.Name, err)
	}
	return got
}

// updateService applies mutate to the current Service ns/name and writes it
// back, retrying on conflicts.
func updateService(t testing.TB, c *kubecluster.Cluster, ns, name string, mutate func(*corev1.Service)) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	services := c.Client.CoreV1().Services(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		svc, err := services.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(svc)
		_, err = services.Update(ctx, svc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update Service %s/%s: %v", ns, name, err)
	}
}

// deleteService deletes Service ns/name.
func deleteService(t testing.TB, c *kubecluster.Cluster, ns, name string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	if err := c.Client.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete Service %s/%s: %v", ns, name, err)
	}
}

// createSlice creates an EndpointSlice.
func createSlice(t testing.TB, c *kubecluster.Cluster, s *discoveryv1.EndpointSlice) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	if _, err := c.Client.DiscoveryV1().EndpointSlices(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create EndpointSlice %s/%s: %v", s.Namespace, s.Name, err)
	}
}

// updateSlice applies mutate to the current EndpointSlice ns/name and writes
// it back, retrying on conflicts.
func updateSlice(t testing.TB, c *kubecluster.Cluster, ns, name string, mutate func(*discoveryv1.EndpointSlice)) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	slicesAPI := c.Client.DiscoveryV1().EndpointSlices(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := slicesAPI.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(s)
		_, err = slicesAPI.Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update EndpointSlice %s/%s: %v", ns, name, err)
	}
}

// setReady sets the readiness of the endpoints of s that have address ip.
func setReady(s *discoveryv1.EndpointSlice, ip string, ready bool) {
	for i := range s.Endpoints {
		if slices.Contains(s.Endpoints[i].Addresses, ip) {
			s.Endpoints[i].Conditions.Ready = &ready
		}
	}
}

// svcName is the cluster name of Service ns/name.
func svcName(ns, name string) string {
	return fmt.Sprintf("%s.%s.svc.%s", name, ns, clusterDomain)
}

// durationPercentile returns the p-th percentile (0 < p <= 100, nearest
// rank) of sorted durations, 0 when there are none.
func durationPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
