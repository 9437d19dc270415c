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

// serialSOA is the zone's SOA record at one serial.
type serialSOA struct {
	serial uint32
	rr     *clusterdnsv1.ResourceRecord
}

// negativeSOA is the zone's SOA for the authority section of a negative
// answer, made once per serial and shared by the answers that carry it,
// which are read and never written (as memoized answers are): most of a
// busy record service's answers are negative, and this spares each the
// three messages of a record.
func (s *Schema) negativeSOA(serial uint32) *clusterdnsv1.ResourceRecord {
	if m := s.negSOA.Load(); m != nil && m.serial == serial {
		return m.rr
	}
	rr := s.soa(s.zone, serial)
	s.negSOA.Store(&serialSOA{serial: serial, rr: rr})
	return rr
}
