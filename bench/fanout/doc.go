// Package fanout measures one record-service replica serving thousands of
// DNS frontends (issue #13, "Fan-out at cluster scale"): many Watch
// subscribers, each on its own gRPC connection from its own loopback
// address, with a proportional LookupStream miss load, against the built
// recordsvc binary on a real kube-apiserver and etcd, while Services and
// EndpointSlices change at a steady rate. It measures the propagation of
// each change to every subscriber, the record service's CPU per change and
// its resident memory at a few and at many subscribers, the time for every
// subscriber to resume after the record service restarts, and the API
// server watches that clusterdns and CoreDNS hold at that size.
//
// `make bench-fanout` runs it at full scale (5,000 subscribers) and writes
// bench/results/fanout.md; without CLUSTERDNS_FANOUT=full the same test runs
// at small scale in `make test` and asserts only correctness: every
// subscriber receives every change, and no lookup of an existing name is
// answered NAME_ERROR.
package fanout
