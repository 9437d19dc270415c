package dnsschema

import (
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// SOA timers, the values CoreDNS's kubernetes plugin uses.
const (
	soaRefresh = 7200
	soaRetry   = 1800
	soaExpire  = 86400
)

// soa returns the zone's SOA record owned by owner:
//
//	<owner> SOA ns.dns.<zone>. hostmaster.<zone>. <serial> 7200 1800 86400 <ttl>
//
// The serial is the store's (SerialStore): the wall-clock second of the last
// DNS-visible change, which never goes backwards within a process nor across
// restarts (a restarted process starts from its own start time). Other
// stores give their revision truncated to 32 bits.
func (s *Schema) soa(owner string, serial uint32) *clusterdnsv1.ResourceRecord {
	return &clusterdnsv1.ResourceRecord{Name: owner, Ttl: s.soaTTL, Data: &clusterdnsv1.ResourceRecord_Soa{
		Soa: &clusterdnsv1.SOARecord{
			Mname:   s.nsHost,
			Rname:   s.hostmaster,
			Serial:  serial,
			Refresh: soaRefresh,
			Retry:   soaRetry,
			Expire:  soaExpire,
			Minimum: s.ttl,
		},
	}}
}

// negativeTTL is how long a negative answer may be cached (RFC 2308 section
// 5: the smaller of the SOA's own TTL and its minimum field).
func (s *Schema) negativeTTL() uint32 { return min(s.soaTTL, s.ttl) }
