package kubeindex

import "slices"

// Defaults of the change history that resumable Watch streams read.
const (
	defaultHistoryChanges = 4096
	defaultHistoryKeys    = 1 << 16
)

// historyEntry is one change in the history: the revision it produced, the
// digest of the state after it and its keys. A change of objects that moved
// no key (say, endpoints moved between two slices of a service) changes the
// digest but not the revision: it is remembered as an entry of the current
// revision without keys, so that a watcher holding either digest can
// resume.
type historyEntry struct {
	revision uint64
	digest   Digest
	keys     []string
}

// history is a bounded record of the recent changes: at most maxChanges
// entries holding at most maxKeys keys in all, oldest dropped first. The
// key lists are those of the published Changes, shared, not copied.
type history struct {
	maxChanges, maxKeys int
	entries             []historyEntry
	keyCount            int
	// floorRevision and floorDigest describe the state before the oldest
	// entry: every change after floorRevision is in entries.
	floorRevision uint64
	floorDigest   Digest
}

func newHistory(maxChanges, maxKeys int, start uint64) *history {
	if maxChanges <= 0 {
		maxChanges = defaultHistoryChanges
	}
	if maxKeys <= 0 {
		maxKeys = defaultHistoryKeys
	}
	return &history{maxChanges: maxChanges, maxKeys: maxKeys, floorRevision: start}
}

func (h *history) add(e historyEntry) {
	h.entries = append(h.entries, e)
	h.keyCount += len(e.keys)
	for len(h.entries) > 0 && (len(h.entries) > h.maxChanges || h.keyCount > h.maxKeys) {
		old := h.entries[0]
		h.entries[0] = historyEntry{} // let the keys go
		h.entries = h.entries[1:]
		h.keyCount -= len(old.keys)
		h.floorRevision, h.floorDigest = old.revision, old.digest
	}
}

// sinceRevision returns the keys changed after revision rev, which must lie
// between the floor and current (the Index's revision); ok is false when
// the history no longer (or never) covered rev.
func (h *history) sinceRevision(rev, current uint64) (keys []string, ok bool) {
	if rev < h.floorRevision || rev > current {
		return nil, false
	}
	i := len(h.entries)
	for i > 0 && h.entries[i-1].revision > rev {
		i--
	}
	return h.union(i), true
}

// sinceDigest returns the keys changed since the state had digest d, which
// is current (the Index's digest), the floor's or an entry's; ok is false
// when the history does not know d.
func (h *history) sinceDigest(d, current Digest) (keys []string, ok bool) {
	if d == current {
		return nil, true
	}
	for i := len(h.entries) - 1; i >= 0; i-- {
		if h.entries[i].digest == d {
			return h.union(i + 1), true
		}
	}
	if d == h.floorDigest {
		return h.union(0), true
	}
	return nil, false
}

// union returns the sorted, unique keys of entries[from:].
func (h *history) union(from int) []string {
	n := 0
	for _, e := range h.entries[from:] {
		n += len(e.keys)
	}
	if n == 0 {
		return nil
	}
	set := make(map[string]struct{}, n)
	for _, e := range h.entries[from:] {
		for _, k := range e.keys {
			set[k] = struct{}{}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
