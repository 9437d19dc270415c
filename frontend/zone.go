package main

import (
	"fmt"
	"strings"
)

// checkZone validates --zone: a Kubernetes label value (the
// topology.kubernetes.io/zone label of a node), or empty.
func checkZone(zone string) error {
	if len(zone) > 63 {
		return fmt.Errorf("longer than 63 characters (a label value)")
	}
	for i, r := range zone {
		alnum := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		inner := strings.ContainsRune("-_.", r) && i > 0 && i < len(zone)-1
		if !alnum && !inner {
			return fmt.Errorf("not a label value (letters, digits, and - _ . inside)")
		}
	}
	return nil
}
