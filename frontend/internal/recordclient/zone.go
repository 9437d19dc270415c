package recordclient

import clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"

// markZoneDependent keeps zone-dependent answers (a headless Service with
// endpoints in several zones) exact in a shared cache. An answer computed
// for Config.Zone, which this client sends with every lookup, holds for
// every client of this frontend, all in that zone, and is cached once like
// any answer. One computed for another zone or for an unknown one (the
// record service found it from the asking pod's node, or did not know it)
// holds for the client that asked only: it is marked client_specific, so
// that the cache neither keeps it nor hands it to another client.
func (c *Client) markZoneDependent(resp *clusterdnsv1.LookupResponse) {
	if resp.GetZoneDependent() && (c.cfg.Zone == "" || resp.GetZone() != c.cfg.Zone) {
		resp.ClientSpecific = true
	}
}
