package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/miekg/dns"
)

const (
	// zipfS is the exponent of the Zipf popularity of names.
	zipfS = 1.1
	// ndots is the resolv.conf option of a Kubernetes pod: a name with fewer
	// dots goes through the search list first.
	ndots = 5
)

// Workload is one dnsperf query file and how to run it.
type Workload struct {
	// ID names result files; Title heads the results table.
	ID, Title string
	// Queries are asked in order; dnsperf loops over them unless Once.
	Queries []Query
	// Once runs through the queries at most once (dnsperf -n 1): every
	// query is a name the server has not been asked before.
	Once bool
	// Warmup runs the workload briefly before measuring so caches hold the
	// popular names, as they would in steady state.
	Warmup bool
	// External marks queries for names outside the cluster, answered
	// through an upstream.
	External bool
	// Note describes the mix for the results.
	Note string
}

// Workloads are the four query mixes of issue #6, generated from one cluster.
type Workloads struct {
	// Hit asks one cluster name over and over (cache hits).
	Hit Workload
	// Zipf asks the names of the first Scale.ZipfServices Services with
	// Zipf popularity, the way a pod with ndots:5 asks them.
	Zipf Workload
	// Miss, MissHalfRate and MissFixedRate ask disjoint sets of names, each
	// once: names never asked before (of Services outside the Zipf set) and
	// names that do not exist. MissHalfRate is for the run at half the peak
	// rate, MissFixedRate for the run at MissFixedQPS.
	Miss, MissHalfRate, MissFixedRate Workload
	// External asks names under ExternalZone with Zipf popularity.
	External Workload
}

// GenerateWorkloads builds the workloads for cluster c (with its cluster IPs)
// at scale s from answers, the union of ClusterAnswers and ExternalAnswers.
func GenerateWorkloads(c *Cluster, s Scale, answers Answers, seed uint64) Workloads {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var w Workloads

	first := c.Services[min(1, len(c.Services)-1)]
	w.Hit = Workload{
		ID: "hit", Title: "(1) one name, cache hits", Warmup: true,
		Queries: []Query{{Name: first.FQDN(c.Domain), Type: dns.TypeA}},
		Note:    fmt.Sprintf("`%s` A, asked over and over", first.FQDN(c.Domain)),
	}

	w.Zipf = zipfWorkload(c, s, answers, rng)
	w.Miss, w.MissHalfRate, w.MissFixedRate = missWorkloads(c, s, answers, rng)

	ext := make([]string, s.ExternalNames)
	for i := range ext {
		ext[i] = externalName(i)
	}
	rng.Shuffle(len(ext), func(i, j int) { ext[i], ext[j] = ext[j], ext[i] })
	zipf := rand.NewZipf(rng, zipfS, 1, uint64(len(ext)-1))
	w.External = Workload{
		ID: "external", Title: "(4) external names via upstream", Warmup: true, External: true,
		Note: fmt.Sprintf("Zipf (s=%.1f) over %d names under %s, A, served by an NSD upstream on loopback", zipfS, len(ext), ExternalZone),
	}
	for range s.ZipfQueries {
		w.External.Queries = append(w.External.Queries, Query{Name: ext[zipf.Uint64()], Type: dns.TypeA})
	}
	return w
}

// lookup is what an application asks: a name as written in its config, and
// the record type.
type lookup struct {
	name  string
	qtype uint16
}

// zipfWorkload asks Service names, endpoint hostnames and SRV names of the
// first s.ZipfServices Services with Zipf popularity. A and AAAA lookups use
// the short form `svc.ns` (or `host.svc.ns`) from a pod in a client
// namespace, so glibc's search list sends the name with the pod's namespace
// first (NXDOMAIN), then with svc.<domain>, each as A and AAAA. SRV lookups
// use the full name, which has ndots or more dots and is asked as is.
func zipfWorkload(c *Cluster, s Scale, answers Answers, rng *rand.Rand) Workload {
	var lookups []lookup
	for _, svc := range c.Services[:min(s.ZipfServices, len(c.Services))] {
		short := svc.Name + "." + svc.Namespace
		lookups = append(lookups, lookup{short, dns.TypeA})
		if svc.Headless {
			for _, ep := range svc.Endpoints {
				lookups = append(lookups, lookup{ep.Hostname + "." + short, dns.TypeA})
			}
			continue
		}
		for _, p := range svc.Ports {
			lookups = append(lookups, lookup{srvName(p, svc.FQDN(c.Domain)), dns.TypeSRV})
		}
	}
	rng.Shuffle(len(lookups), func(i, j int) { lookups[i], lookups[j] = lookups[j], lookups[i] })
	zipf := rand.NewZipf(rng, zipfS, 1, uint64(len(lookups)-1))
	w := Workload{ID: "zipf", Title: "(2) Zipf over cluster names, ndots:5", Warmup: true}
	distinct := map[Query]bool{}
	nx := 0
	for len(w.Queries) < s.ZipfQueries {
		l := lookups[zipf.Uint64()]
		client := c.ClientNamespaces[rng.IntN(len(c.ClientNamespaces))]
		for _, q := range resolverQueries(l, client, c.Domain, answers) {
			w.Queries = append(w.Queries, q)
			distinct[q] = true
			if !answers.Exists(q.Name) {
				nx++
			}
		}
	}
	names := map[string]bool{}
	for q := range distinct {
		names[q.Name] = true
	}
	w.Note = fmt.Sprintf("Zipf (s=%.1f) over %d lookups of %d Services (%d distinct names, %d distinct questions), asked from %d client namespaces with ndots:5: %.0f%% NXDOMAIN",
		zipfS, len(lookups), min(s.ZipfServices, len(c.Services)), len(names), len(distinct), len(c.ClientNamespaces), 100*float64(nx)/float64(len(w.Queries)))
	return w
}

// resolverQueries are the questions glibc sends for lookup l from a pod in
// namespace client: a name with fewer than ndots dots goes through the search
// list (client.svc.D, svc.D, D) until a name exists, then as is; A lookups
// ask A and AAAA for each candidate, as getaddrinfo does.
func resolverQueries(l lookup, client, domain string, answers Answers) []Query {
	types := []uint16{l.qtype}
	if l.qtype == dns.TypeA {
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	}
	var candidates []string
	if strings.Count(l.name, ".") < ndots && !strings.HasSuffix(l.name, ".") {
		for _, search := range []string{client + ".svc." + domain, "svc." + domain, domain} {
			candidates = append(candidates, l.name+"."+search+".")
		}
	}
	candidates = append(candidates, dns.Fqdn(l.name))
	var qs []Query
	for _, name := range candidates {
		for _, t := range types {
			qs = append(qs, Query{Name: name, Type: t})
		}
		if answers.Exists(name) {
			break
		}
	}
	return qs
}

// missWorkloads returns three disjoint sets of names, each asked once: every
// A, AAAA and SRV question about Services outside the Zipf set, dealt to
// the sets in turn, then each filled up to s.MissQueries with names of
// Services that do not exist (NXDOMAIN).
// MissFixedQPS is the rate of the miss run whose p99 issue #15 bounds
// (below 1 ms at 1,000 QPS): a rate every server reaches, so the servers'
// latencies compare at the same load.
const MissFixedQPS = 1000

func missWorkloads(c *Cluster, s Scale, answers Answers, rng *rand.Rand) (Workload, Workload, Workload) {
	var existing []Query
	for _, svc := range c.Services[min(s.ZipfServices, len(c.Services)):] {
		name := svc.FQDN(c.Domain)
		existing = append(existing, Query{name, dns.TypeA}, Query{name, dns.TypeAAAA})
		if svc.Headless {
			for _, ep := range svc.Endpoints {
				host := ep.Hostname + "." + name
				existing = append(existing, Query{host, dns.TypeA}, Query{host, dns.TypeAAAA})
			}
			continue
		}
		for _, p := range svc.Ports {
			existing = append(existing, Query{srvName(p, name), dns.TypeSRV})
		}
	}
	rng.Shuffle(len(existing), func(i, j int) { existing[i], existing[j] = existing[j], existing[i] })
	var halves [3][]Query
	for i, q := range existing {
		if len(halves[i%3]) < s.MissQueries {
			halves[i%3] = append(halves[i%3], q)
		}
	}
	missing := 0
	var out [3]Workload
	for h := range halves {
		found := len(halves[h])
		for len(halves[h]) < s.MissQueries {
			ns := c.Namespaces[missing%len(c.Namespaces)]
			halves[h] = append(halves[h], Query{fmt.Sprintf("missing-%07d.%s.svc.%s.", missing, ns, c.Domain), dns.TypeA})
			missing++
		}
		rng.Shuffle(len(halves[h]), func(i, j int) { halves[h][i], halves[h][j] = halves[h][j], halves[h][i] })
		out[h] = Workload{
			Queries: halves[h], Once: true,
			Note: fmt.Sprintf("%d distinct questions, each asked once: %d about existing names of Services outside the Zipf set (A, AAAA, SRV), %d about Services that do not exist (NXDOMAIN)",
				len(halves[h]), found, len(halves[h])-found),
		}
	}
	out[0].ID, out[0].Title = "miss", "(3) unique names, every query a miss"
	out[1].ID, out[1].Title = "miss-half", "(3b) misses at half the peak rate"
	out[2].ID, out[2].Title = "miss-fixed", fmt.Sprintf("(3c) misses at %d QPS", MissFixedQPS)
	return out[0], out[1], out[2]
}

// WriteQueryFile writes queries in dnsperf's format, "NAME TYPE" per line.
func WriteQueryFile(path string, queries []Query) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("query file: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, q := range queries {
		fmt.Fprintf(w, "%s %s\n", q.Name, dns.TypeToString[q.Type])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("query file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("query file %s: %w", path, err)
	}
	return nil
}
