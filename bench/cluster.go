package bench

import (
	"fmt"
	"net/netip"
)

// Scale sizes the generated cluster and the workloads asked of it.
type Scale struct {
	// Namespaces hold the Services, round-robin (full: 100).
	Namespaces int
	// Services is the number of Services (full: 10,000); every
	// HeadlessEvery-th one is headless (full: 10, so 1,000 headless).
	Services      int
	HeadlessEvery int
	// HeadlessEndpoints is the number of endpoints of each headless Service,
	// each with a hostname (full: 20: a headless answer fits 512 bytes).
	HeadlessEndpoints int
	// Endpoints is the total number of endpoints (full: 100,000); what the
	// headless Services do not take is spread over the ClusterIP Services.
	// One Pod backs each endpoint, with the endpoint's IP.
	Endpoints int
	// ZipfServices are the first Services, whose names the Zipf workload
	// asks (full: 1,000); the miss workload asks only the others.
	ZipfServices int
	// ClientNamespaces are the namespaces of the pods that ask, whose search
	// lists produce NXDOMAIN answers (full: 2).
	ClientNamespaces int
	// ExternalNames is the number of names under example.com that the
	// upstream serves (full: 10,000).
	ExternalNames int
	// ZipfQueries is the length of the Zipf and external query files (full:
	// 500,000); dnsperf loops over a file when it reaches its end.
	ZipfQueries int
	// MissQueries is the length of each of the three miss query files, each
	// name asked once (full: 200,000).
	MissQueries int
}

// FullScale is the scale of issue #6: 10k Services (1k headless), 100k
// endpoints, 100k Pods.
func FullScale() Scale {
	return Scale{
		Namespaces:        100,
		Services:          10_000,
		HeadlessEvery:     10,
		HeadlessEndpoints: 20,
		Endpoints:         100_000,
		ZipfServices:      1_000,
		ClientNamespaces:  2,
		ExternalNames:     10_000,
		ZipfQueries:       500_000,
		MissQueries:       200_000,
	}
}

// SmokeScale is a small cluster for the smoke run in `make test`.
func SmokeScale() Scale {
	return Scale{
		Namespaces:        4,
		Services:          100,
		HeadlessEvery:     10,
		HeadlessEndpoints: 5,
		Endpoints:         400,
		ZipfServices:      40,
		ClientNamespaces:  2,
		ExternalNames:     200,
		ZipfQueries:       20_000,
		MissQueries:       5_000,
	}
}

// Cluster is the generated content of the API server: what the suite
// creates, and what the answers are expected to be.
type Cluster struct {
	// Domain is the cluster domain, "cluster.local".
	Domain string
	// Namespaces hold the Services; ClientNamespaces hold only the askers.
	Namespaces       []string
	ClientNamespaces []string
	// Services in creation order; the first Scale.ZipfServices are the
	// Zipf workload's.
	Services []*Service
}

// Service is one generated Service with its endpoints.
type Service struct {
	Namespace string
	Name      string
	// Headless Services have no cluster IP; their name answers with the
	// endpoint addresses and each endpoint has a hostname.
	Headless bool
	// ClusterIP is what the API server allocated ("" until created, and for
	// headless Services).
	ClusterIP string
	// Ports are named TCP ports; the endpoints listen on the same numbers.
	Ports []ServicePort
	// Endpoints back the Service, each with a Pod of the same IP.
	Endpoints []Endpoint
}

// ServicePort is a named TCP port of a Service.
type ServicePort struct {
	Name string
	Port int32
}

// Endpoint is one ready endpoint of a Service.
type Endpoint struct {
	// IP is the IPv4 address of the endpoint and of its Pod.
	IP string
	// Hostname is set for endpoints of headless Services ("ep-N").
	Hostname string
	// Pod is the name of the Pod behind the endpoint, in the Service's
	// namespace.
	Pod string
}

// FQDN returns the Service's name in the cluster zone, with the final dot.
func (s *Service) FQDN(domain string) string {
	return s.Name + "." + s.Namespace + ".svc." + domain + "."
}

// Generate builds the cluster of scale s deterministically.
func Generate(s Scale) *Cluster {
	c := &Cluster{Domain: "cluster.local"}
	for i := range s.Namespaces {
		c.Namespaces = append(c.Namespaces, fmt.Sprintf("ns-%03d", i))
	}
	for i := range s.ClientNamespaces {
		c.ClientNamespaces = append(c.ClientNamespaces, fmt.Sprintf("client-%d", i))
	}
	headless := 0
	if s.HeadlessEvery > 0 {
		headless = (s.Services + s.HeadlessEvery - 1) / s.HeadlessEvery
	}
	clusterIPs := s.Services - headless
	rest := max(s.Endpoints-headless*s.HeadlessEndpoints, 0)
	// Endpoint and Pod IPs are taken in order from 10.128.0.0/9.
	ip := netip.AddrFrom4([4]byte{10, 128, 0, 0})
	nextIP := func() string {
		ip = ip.Next()
		return ip.String()
	}
	clusterIPIndex := 0
	for i := range s.Services {
		svc := &Service{Namespace: c.Namespaces[i%len(c.Namespaces)]}
		if s.HeadlessEvery > 0 && i%s.HeadlessEvery == 0 {
			svc.Headless = true
			svc.Name = fmt.Sprintf("db-%05d", i)
			svc.Ports = []ServicePort{{Name: "db", Port: 5432}}
			for k := range s.HeadlessEndpoints {
				svc.Endpoints = append(svc.Endpoints, Endpoint{
					IP:       nextIP(),
					Hostname: fmt.Sprintf("ep-%d", k),
					Pod:      fmt.Sprintf("%s-%d", svc.Name, k),
				})
			}
		} else {
			svc.Name = fmt.Sprintf("web-%05d", i)
			svc.Ports = []ServicePort{{Name: "http", Port: 80}, {Name: "grpc", Port: 9090}}
			n := rest / clusterIPs
			if clusterIPIndex < rest%clusterIPs {
				n++
			}
			clusterIPIndex++
			for k := range n {
				svc.Endpoints = append(svc.Endpoints, Endpoint{IP: nextIP(), Pod: fmt.Sprintf("%s-%d", svc.Name, k)})
			}
		}
		c.Services = append(c.Services, svc)
	}
	return c
}

// Counts returns the numbers of Services, headless Services and endpoints
// (one Pod each).
func (c *Cluster) Counts() (services, headless, endpoints int) {
	for _, s := range c.Services {
		services++
		if s.Headless {
			headless++
		}
		endpoints += len(s.Endpoints)
	}
	return services, headless, endpoints
}
