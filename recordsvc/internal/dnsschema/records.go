package dnsschema

import (
	"net/netip"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Builders of proto resource records. Owner names and targets are passed
// fully qualified.

func addressRecord(owner string, ttl uint32, ip netip.Addr) *clusterdnsv1.ResourceRecord {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_A{
			A: &clusterdnsv1.ARecord{Address: ip.String()},
		}}
	}
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_Aaaa{
		Aaaa: &clusterdnsv1.AAAARecord{Address: ip.String()},
	}}
}

func srvRecord(owner string, ttl uint32, weight uint32, port int32, target string) *clusterdnsv1.ResourceRecord {
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_Srv{
		Srv: &clusterdnsv1.SRVRecord{Priority: 0, Weight: weight, Port: uint32(port), Target: target},
	}}
}

func ptrRecord(owner string, ttl uint32, target string) *clusterdnsv1.ResourceRecord {
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_Ptr{
		Ptr: &clusterdnsv1.PTRRecord{Target: target},
	}}
}

func cnameRecord(owner string, ttl uint32, target string) *clusterdnsv1.ResourceRecord {
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_Cname{
		Cname: &clusterdnsv1.CNAMERecord{Target: target},
	}}
}

func txtRecord(owner string, ttl uint32, values ...string) *clusterdnsv1.ResourceRecord {
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_Txt{
		Txt: &clusterdnsv1.TXTRecord{Values: values},
	}}
}

func nsRecord(owner string, ttl uint32, target string) *clusterdnsv1.ResourceRecord {
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: ttl, Data: &clusterdnsv1.ResourceRecord_Ns{
		Ns: &clusterdnsv1.NSRecord{Target: target},
	}}
}

// familyMatches reports whether ip answers qtype A (IPv4) or AAAA (IPv6).
func familyMatches(ip netip.Addr, wantV4 bool) bool {
	return ip.Unmap().Is4() == wantV4
}
