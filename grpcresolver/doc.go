// Package grpcresolver is a grpc-go name resolver for Kubernetes Services
// that follows them through the clusterdns record service's
// DiscoveryService instead of the Kubernetes API.
//
// A client program resolves targets of the form
//
//	clusterdns:///<service>.<namespace>:<port>
//
// where port is a Service port name or number. Each ClientConn with such a
// target holds one WatchServices stream, and every stream of a Builder
// shares one gRPC connection to the record service, so a program that
// follows many Services adds no watch on the Kubernetes API and needs no
// Kubernetes credentials. The resolver pushes one address per ready
// endpoint address (terminating endpoints are left out, so that clients
// stop sending them new calls before their pods stop), with the endpoint's
// zone and node as attributes for locality-aware balancers.
//
// The package registers nothing by itself: pass a Builder to
// grpc.WithResolvers, or call Register once at start to make the scheme
// available to every ClientConn of the process.
//
//	b, err := grpcresolver.NewBuilder(
//		grpcresolver.WithRecordService("10.96.0.11:9090"),
//		grpcresolver.WithTransportCredentials(creds))
//	...
//	conn, err := grpc.NewClient("clusterdns:///echo.demo:grpc",
//		grpc.WithResolvers(b),
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
//		grpc.WithTransportCredentials(backendCreds))
//
// When the record service is unreachable or a stream breaks, the ClientConn
// keeps the last addresses it was given while the resolver reconnects with
// backoff and resumes the stream where it stopped.
package grpcresolver
