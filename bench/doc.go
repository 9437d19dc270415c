// Package bench measures clusterdns side by side with the servers users would
// pick instead, in one run on one machine: CoreDNS v1.15 with its kubernetes
// plugin (kubeadm's Corefile, and with `cache 30` as NodeLocal DNSCache runs
// it) on the same kube-apiserver, and NSD serving an equivalent static zone
// from memory (the ceiling).
//
// The suite (TestBenchmarkSuite) starts a real kube-apiserver and etcd,
// populates them with a generated cluster, starts every server pinned to CPU 1
// and drives it with dnsperf pinned to CPU 0. It reports, per workload, QPS,
// average and p99 latency and lost queries with the ratio of each system to
// CoreDNS and to NSD; the sync time and peak RSS of the record service and of
// CoreDNS; and how long a change in the API takes to show in the answers.
//
// With CLUSTERDNS_BENCH=full it runs at full scale (10k Services, 100k
// endpoints, 100k Pods, 10 s per workload) and writes bench/results/results.md
// and bench/results/results.png. Without it, it runs a smoke version (small
// cluster, short runs) that asserts only that everything works and answers
// correctly. bench/setup.sh installs what the suite needs.
package bench
