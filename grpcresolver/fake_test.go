package grpcresolver

import (
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// deadline bounds every wait of these tests: generous, for a loaded
// machine.
const deadline = 20 * time.Second

// fakeDiscovery is an in-process DiscoveryService: it sends the full state
// of every followed Service on each change, resumes (with no states) a
// stream whose resume point is its current one, and records requests.
type fakeDiscovery struct {
	clusterdnsv1.UnimplementedDiscoveryServiceServer

	mu       sync.Mutex
	serverID string
	revision uint64
	states   map[string]*clusterdnsv1.ServiceState
	requests []*clusterdnsv1.WatchServicesRequest
	open     int
	// changed is closed and replaced on every change; cut, to end every
	// stream with UNAVAILABLE.
	changed, cut chan struct{}
	// deny, when set, refuses every stream with it.
	deny error
}

func newFakeDiscovery(serverID string) *fakeDiscovery {
	return &fakeDiscovery{serverID: serverID, revision: 1, states: map[string]*clusterdnsv1.ServiceState{},
		changed: make(chan struct{}), cut: make(chan struct{})}
}

// set replaces the state of Service ns/name (nil: it does not exist).
func (f *fakeDiscovery) set(ns, name string, svc *clusterdnsv1.Service, eps ...*clusterdnsv1.Endpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if svc == nil {
		delete(f.states, ns+"/"+name)
	} else {
		f.states[ns+"/"+name] = &clusterdnsv1.ServiceState{Exists: true, Service: svc, Endpoints: eps,
			Ref: &clusterdnsv1.ServiceRef{Namespace: ns, Name: name}}
	}
	f.revision++
	close(f.changed)
	f.changed = make(chan struct{})
}

// cutStreams ends every open stream with UNAVAILABLE.
func (f *fakeDiscovery) cutStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.cut)
	f.cut = make(chan struct{})
}

func (f *fakeDiscovery) stateOf(ref *clusterdnsv1.ServiceRef) *clusterdnsv1.ServiceState {
	if st, ok := f.states[ref.GetNamespace()+"/"+ref.GetName()]; ok {
		return st
	}
	return &clusterdnsv1.ServiceState{Ref: ref}
}

// snapshot is the message of the current state of refs, and the channels
// that announce the next change and a cut.
func (f *fakeDiscovery) snapshot(refs []*clusterdnsv1.ServiceRef) (*clusterdnsv1.WatchServicesResponse, chan struct{}, chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	msg := &clusterdnsv1.WatchServicesResponse{Revision: f.revision, ServerId: f.serverID}
	for _, ref := range refs {
		msg.States = append(msg.States, f.stateOf(ref))
	}
	return msg, f.changed, f.cut
}

func (f *fakeDiscovery) WatchServices(req *clusterdnsv1.WatchServicesRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]) error {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	deny := f.deny
	f.open++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
	}()
	if deny != nil {
		return deny
	}
	msg, changed, cut := f.snapshot(req.GetRefs())
	if req.GetResumeServerId() == f.serverID && req.GetResumeRevision() == msg.GetRevision() {
		msg.States, msg.Resumed = nil, true
	}
	for {
		if err := stream.Send(msg); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-cut:
			return status.Error(codes.Unavailable, "cut by the test")
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		msg, changed, cut = f.snapshot(req.GetRefs())
	}
}

// watchRequests returns the requests received so far.
func (f *fakeDiscovery) watchRequests() []*clusterdnsv1.WatchServicesRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*clusterdnsv1.WatchServicesRequest(nil), f.requests...)
}

func (f *fakeDiscovery) openStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

// serveFake serves f on addr ("127.0.0.1:0" for a free port) until the
// returned stop is called or the test ends, and returns the address.
func serveFake(t *testing.T, f *fakeDiscovery, addr string) (string, func()) {
	t.Helper()
	var lis net.Listener
	var err error
	for end := time.Now().Add(deadline); ; time.Sleep(50 * time.Millisecond) {
		// Re-listening on a port just closed may take a moment.
		if lis, err = net.Listen("tcp", addr); err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := grpc.NewServer()
	clusterdnsv1.RegisterDiscoveryServiceServer(s, f)
	go s.Serve(lis) // returns when stopped
	var once sync.Once
	stop := func() { once.Do(s.Stop) }
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// fakeCC is a resolver.ClientConn that records what a resolver pushes.
type fakeCC struct {
	resolver.ClientConn
	t       *testing.T
	updates chan resolver.State
	errs    chan error
}

func newFakeCC(t *testing.T) *fakeCC {
	return &fakeCC{t: t, updates: make(chan resolver.State, 256), errs: make(chan error, 256)}
}

func (c *fakeCC) UpdateState(s resolver.State) error {
	select {
	case c.updates <- s:
	default:
		c.t.Error("fakeCC: too many updates")
	}
	return nil
}

func (c *fakeCC) ReportError(err error) {
	select {
	case c.errs <- err:
	default:
		c.t.Error("fakeCC: too many errors")
	}
}

// nextUpdate waits for the next pushed state.
func (c *fakeCC) nextUpdate(t *testing.T) resolver.State {
	t.Helper()
	select {
	case s := <-c.updates:
		return s
	case <-time.After(deadline):
		t.Fatalf("no state pushed within %s", deadline)
		return resolver.State{}
	}
}

// nextError waits for the next reported error.
func (c *fakeCC) nextError(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.errs:
		return err
	case <-time.After(deadline):
		t.Fatalf("no error reported within %s", deadline)
		return nil
	}
}

// eventually polls check until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s: %s", what, deadline, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// svc is a ClusterIP Service with TCP ports of the given names and numbers.
func svc(ns, name string, ports ...*clusterdnsv1.Port) *clusterdnsv1.Service {
	return &clusterdnsv1.Service{Namespace: ns, Name: name, Type: clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP, Ports: ports}
}

func port(name string, n uint32) *clusterdnsv1.Port {
	return &clusterdnsv1.Port{Name: name, Port: n, Protocol: clusterdnsv1.Protocol_PROTOCOL_TCP}
}

// ep is a ready endpoint in zone with ports.
func ep(addr, zone string, ports ...*clusterdnsv1.Port) *clusterdnsv1.Endpoint {
	return &clusterdnsv1.Endpoint{Addresses: []string{addr}, Ready: true, Serving: true, Zone: zone, NodeName: "node-" + zone, Ports: ports}
}

// addrsOf lists the addresses of a state.
func addrsOf(s resolver.State) []string {
	var out []string
	for _, a := range s.Addresses {
		out = append(out, a.Addr)
	}
	return out
}
