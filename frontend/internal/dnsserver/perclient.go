package dnsserver

import clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"

// perClient reports whether an answer holds only for the client it was
// computed for: an autopath completion (from that client's search path) or
// an answer a visibility policy makes differ between clients
// (client_specific). Such answers are neither cached nor handed to another
// client's identical question in flight; every other answer is the same
// for all clients and is cached once for them all.
func perClient(resp *clusterdnsv1.LookupResponse) bool {
	return resp.GetAutopathNamespace() != "" || resp.GetClientSpecific()
}
