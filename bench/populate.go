package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// populateQPS and populateBurst lift client-go's rate limit so that the
	// API server, not the client, bounds the creation rate.
	populateQPS   = 20_000
	populateBurst = 40_000
	// maxSliceEndpoints is the endpoint count per EndpointSlice that the
	// EndpointSlice controller uses by default.
	maxSliceEndpoints = 100
	// sliceManager marks the EndpointSlices the suite manages.
	sliceManager = "bench.clusterdns.io"
)

// PopulateStats tells what was created and how long each part took.
type PopulateStats struct {
	Namespaces, Services, EndpointSlices, Pods int
	// ViaEtcd is set when EndpointSlices and Pods were written to etcd.
	ViaEtcd bool
	// Elapsed is the whole time; the others are its parts.
	Elapsed, ServicesTime, SlicesAndPodsTime time.Duration
}

// FastClient returns a clientset on a copy of cfg that speaks protobuf and is
// not rate limited, for bulk writes.
func FastClient(cfg *rest.Config) (kubernetes.Interface, error) {
	fast := rest.CopyConfig(cfg)
	fast.QPS = populateQPS
	fast.Burst = populateBurst
	fast.ContentType = "application/vnd.kubernetes.protobuf"
	fast.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(fast)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return client, nil
}

// Populate creates the cluster: namespaces (with their default
// ServiceAccount) and Services through the API, so that the API server
// allocates the cluster IPs (recorded in c); then the EndpointSlices and the
// Pods behind the endpoints, Running with their IPs as a kubelet would report
// them. With etcd set those are written straight into etcd and Populate waits
// until the API server lists them all; without it they go through the API
// (a Pod create and a status update each: minutes per 10k Pods on two cores).
// workers requests run in parallel.
func Populate(ctx context.Context, client kubernetes.Interface, etcd *EtcdWriter, c *Cluster, workers int) (PopulateStats, error) {
	start := time.Now()
	stats := PopulateStats{ViaEtcd: etcd != nil}
	namespaces := append(append([]string(nil), c.Namespaces...), c.ClientNamespaces...)
	err := parallel(ctx, workers, len(namespaces), func(ctx context.Context, i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaces[i]}}
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", namespaces[i], err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[i], Name: "default"}}
		if _, err := client.CoreV1().ServiceAccounts(namespaces[i]).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("service account %s/default: %w", namespaces[i], err)
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("populate: %w", err)
	}
	stats.Namespaces = len(namespaces)

	err = parallel(ctx, workers, len(c.Services), func(ctx context.Context, i int) error {
		s := c.Services[i]
		created, err := client.CoreV1().Services(s.Namespace).Create(ctx, serviceObject(s), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("service %s/%s: %w", s.Namespace, s.Name, err)
		}
		if !s.Headless {
			s.ClusterIP = created.Spec.ClusterIP
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("populate: %w", err)
	}
	stats.Services = len(c.Services)
	stats.ServicesTime = time.Since(start)

	var slices []*discoveryv1.EndpointSlice
	for _, s := range c.Services {
		slices = append(slices, sliceObjects(s)...)
	}
	type podRef struct {
		svc *Service
		ep  int
	}
	var pods []podRef
	for _, s := range c.Services {
		for k := range s.Endpoints {
			pods = append(pods, podRef{s, k})
		}
	}
	slicesStart := time.Now()
	now := metav1.NewTime(slicesStart.Truncate(time.Second))
	err = parallel(ctx, workers, len(slices), func(ctx context.Context, i int) error {
		sl := slices[i]
		if etcd != nil {
			stored := sl.DeepCopy()
			stored.TypeMeta = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
			stored.UID, stored.CreationTimestamp, stored.Generation = uuid.NewUUID(), now, 1
			return etcd.Put(ctx, "endpointslices", sl.Namespace, sl.Name, stored)
		}
		if _, err := client.DiscoveryV1().EndpointSlices(sl.Namespace).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("endpointslice %s/%s: %w", sl.Namespace, sl.Name, err)
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("populate: %w", err)
	}
	stats.EndpointSlices = len(slices)

	err = parallel(ctx, workers, len(pods), func(ctx context.Context, i int) error {
		s, ep := pods[i].svc, pods[i].svc.Endpoints[pods[i].ep]
		if etcd != nil {
			return etcd.Put(ctx, "pods", s.Namespace, ep.Pod, storedPod(s, ep, i, now))
		}
		created, err := client.CoreV1().Pods(s.Namespace).Create(ctx, podObject(s, ep), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", s.Namespace, ep.Pod, err)
		}
		setPodRunning(created, ep.IP, i, now)
		if _, err := client.CoreV1().Pods(s.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("pod %s/%s status: %w", s.Namespace, ep.Pod, err)
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("populate: %w", err)
	}
	stats.Pods = len(pods)
	if etcd != nil {
		if err := waitListed(ctx, client, len(slices), len(pods)); err != nil {
			return stats, fmt.Errorf("populate: %w", err)
		}
	}
	stats.SlicesAndPodsTime = time.Since(slicesStart)
	stats.Elapsed = time.Since(start)
	return stats, nil
}

// waitListed waits until the API server lists slices EndpointSlices and pods
// Pods.
func waitListed(ctx context.Context, client kubernetes.Interface, slices, pods int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	count := func(list func() (*int64, int, error)) (int64, error) {
		remaining, items, err := list()
		if err != nil {
			return 0, err
		}
		n := int64(items)
		if remaining != nil {
			n += *remaining
		}
		return n, nil
	}
	for {
		s, serr := count(func() (*int64, int, error) {
			l, err := client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{Limit: 1})
			if err != nil {
				return nil, 0, err
			}
			return l.RemainingItemCount, len(l.Items), nil
		})
		p, perr := count(func() (*int64, int, error) {
			l, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
			if err != nil {
				return nil, 0, err
			}
			return l.RemainingItemCount, len(l.Items), nil
		})
		if serr == nil && perr == nil && s >= int64(slices) && p >= int64(pods) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server lists %d of %d EndpointSlices and %d of %d Pods (%v, %v): %w", s, slices, p, pods, serr, perr, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// serviceObject is the API object of s.
func serviceObject(s *Service) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: map[string]string{"app": s.Name}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"app": s.Name},
		},
	}
	if s.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Protocol: corev1.ProtocolTCP, Port: p.Port, TargetPort: intstr.FromInt32(p.Port),
		})
	}
	return svc
}

// sliceObjects are the EndpointSlices of s, at most maxSliceEndpoints
// endpoints each, all ready.
func sliceObjects(s *Service) []*discoveryv1.EndpointSlice {
	var ports []discoveryv1.EndpointPort
	for _, p := range s.Ports {
		ports = append(ports, discoveryv1.EndpointPort{
			Name: ptr(p.Name), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(p.Port),
		})
	}
	var slices []*discoveryv1.EndpointSlice
	for start := 0; start < len(s.Endpoints); start += maxSliceEndpoints {
		sl := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: s.Namespace,
				Name:      fmt.Sprintf("%s-%d", s.Name, start/maxSliceEndpoints),
				Labels: map[string]string{
					discoveryv1.LabelServiceName: s.Name,
					discoveryv1.LabelManagedBy:   sliceManager,
				},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       ports,
		}
		for _, ep := range s.Endpoints[start:min(start+maxSliceEndpoints, len(s.Endpoints))] {
			e := discoveryv1.Endpoint{
				Addresses:  []string{ep.IP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: s.Namespace, Name: ep.Pod},
			}
			if ep.Hostname != "" {
				e.Hostname = ptr(ep.Hostname)
			}
			sl.Endpoints = append(sl.Endpoints, e)
		}
		slices = append(slices, sl)
	}
	return slices
}

// podObject is the Pod behind endpoint ep of s, as a client creates it.
func podObject(s *Service, ep Endpoint) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: ep.Pod, Labels: map[string]string{"app": s.Name}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: podImage}},
		},
	}
	if ep.Hostname != "" {
		pod.Spec.Hostname = ep.Hostname
		pod.Spec.Subdomain = s.Name
	}
	return pod
}

// podImage is the image of every generated Pod.
const podImage = "registry.invalid/app:1"

// storedPod is the Pod behind endpoint ep of s as the API server stores it
// once a scheduler and a kubelet have run it: defaulted spec, node, and a
// Running, Ready status with the endpoint's IP. i numbers the Pod.
func storedPod(s *Service, ep Endpoint, i int, created metav1.Time) *corev1.Pod {
	pod := podObject(s, ep)
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	pod.UID, pod.CreationTimestamp, pod.Generation = uuid.NewUUID(), created, 1
	grace := int64(30)
	tolerate := int64(300)
	pod.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	pod.Spec.Containers[0].TerminationMessagePath = corev1.TerminationMessagePathDefault
	pod.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageReadFile
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.TerminationGracePeriodSeconds = &grace
	pod.Spec.DNSPolicy = corev1.DNSClusterFirst
	pod.Spec.ServiceAccountName = "default"
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
	pod.Spec.SchedulerName = corev1.DefaultSchedulerName
	pod.Spec.Priority = ptr(int32(0))
	pod.Spec.EnableServiceLinks = ptr(true)
	pod.Spec.PreemptionPolicy = ptr(corev1.PreemptLowerPriority)
	pod.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolerate},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolerate},
	}
	setPodRunning(pod, ep.IP, i, created)
	return pod
}

// setPodRunning plays the scheduler and the kubelet: Pod number i runs on a
// node, is ready and has ip.
func setPodRunning(pod *corev1.Pod, ip string, i int, now metav1.Time) {
	node := i % 100
	hostIP := fmt.Sprintf("10.0.%d.%d", node/250, node%250+1)
	pod.Spec.NodeName = fmt.Sprintf("node-%02d", node)
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		QOSClass:  corev1.PodQOSBestEffort,
		Conditions: []corev1.PodCondition{
			{Type: "PodReadyToStartContainers", Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Ready: true, Started: ptr(true), Image: podImage,
			ImageID:     "registry.invalid/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			ContainerID: fmt.Sprintf("containerd://%064x", i),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
}

// SetEndpointIP changes the address of endpoint k of s in its EndpointSlice
// with one JSON patch, and records it in s.
func SetEndpointIP(ctx context.Context, client kubernetes.Interface, s *Service, k int, ip string) error {
	slice := fmt.Sprintf("%s-%d", s.Name, k/maxSliceEndpoints)
	patch, err := json.Marshal([]map[string]any{{
		"op": "replace", "path": fmt.Sprintf("/endpoints/%d/addresses/0", k%maxSliceEndpoints), "value": ip,
	}})
	if err != nil {
		return fmt.Errorf("endpoint patch: %w", err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices(s.Namespace).Patch(ctx, slice, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("endpointslice %s/%s: %w", s.Namespace, slice, err)
	}
	s.Endpoints[k].IP = ip
	return nil
}

// SetServicePort changes the number of port i of s with one JSON patch, and
// records it in s. (The endpoints keep theirs: SRV records of a ClusterIP
// Service carry the Service port.)
func SetServicePort(ctx context.Context, client kubernetes.Interface, s *Service, i int, port int32) error {
	patch, err := json.Marshal([]map[string]any{
		{"op": "replace", "path": fmt.Sprintf("/spec/ports/%d/port", i), "value": port},
	})
	if err != nil {
		return fmt.Errorf("service patch: %w", err)
	}
	if _, err := client.CoreV1().Services(s.Namespace).Patch(ctx, s.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("service %s/%s: %w", s.Namespace, s.Name, err)
	}
	s.Ports[i].Port = port
	return nil
}

// parallel runs fn for 0..n-1 on workers goroutines and returns the first
// error; after an error the remaining items are skipped.
func parallel(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
