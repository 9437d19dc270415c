package dnscache

// The invalidation index refers to cluster entries by small handles (their
// slot in one slice) rather than by pointer, so that the garbage collector
// scans one array of pointers for it instead of a map slot per entry and key:
// a key most entries depend on alone (a service that does not exist) costs a
// map slot holding the handle, and a key many entries share (a namespace) a
// set of handles, which holds no pointers.

// handle is an entry's slot in index.slots; 0 is no slot.
type handle uint32

// keyEntries are the entries that depend on one key: one when many is nil,
// else the handles in many.
type keyEntries struct {
	one  handle
	many map[handle]struct{}
}

// index holds the cluster entries and, per invalidation key, the entries
// that depend on it. The Cache's mu guards it.
type index struct {
	// slots holds every cluster entry at its handle; slots[0] stays nil.
	slots []*entry
	free  []handle
	byKey map[string]keyEntries
}

func newIndex() index {
	return index{slots: make([]*entry, 1), byKey: make(map[string]keyEntries)}
}

// len is the number of entries held.
func (x *index) len() int { return len(x.slots) - 1 - len(x.free) }

// add registers e under its keys and returns what the index takes for it
// in bytes beyond its share of the slot array: a map slot for a key no
// other entry depends on, a set slot for a shared one.
func (x *index) add(e *entry) int64 {
	if n := len(x.free); n > 0 {
		e.slot = x.free[n-1]
		x.free = x.free[:n-1]
		x.slots[e.slot] = e
	} else {
		e.slot = handle(len(x.slots))
		x.slots = append(x.slots, e)
	}
	var bytes int64
	for key := range e.keys.all() {
		ke, ok := x.byKey[key]
		switch {
		case !ok:
			ke.one = e.slot
			bytes += keySlotOverhead
		case ke.many == nil:
			if ke.one == e.slot {
				// The key repeats in e.keys.
				continue
			}
			ke.many = map[handle]struct{}{ke.one: {}, e.slot: {}}
			ke.one = 0
			bytes += handleSetOverhead
		default:
			ke.many[e.slot] = struct{}{}
			bytes += handleSetOverhead
		}
		x.byKey[key] = ke
	}
	return bytes
}

// remove unregisters e; it does nothing when e is not registered.
func (x *index) remove(e *entry) {
	h := e.slot
	if h == 0 {
		return
	}
	for key := range e.keys.all() {
		ke, ok := x.byKey[key]
		switch {
		case !ok:
		case ke.many == nil:
			if ke.one == h {
				delete(x.byKey, key)
			}
		default:
			delete(ke.many, h)
			if len(ke.many) == 0 {
				delete(x.byKey, key)
			}
		}
	}
	x.slots[h] = nil
	x.free = append(x.free, h)
	e.slot = 0
}

// dependents returns the entries that depend on key.
func (x *index) dependents(key string) []*entry {
	ke, ok := x.byKey[key]
	switch {
	case !ok:
		return nil
	case ke.many == nil:
		return []*entry{x.slots[ke.one]}
	}
	out := make([]*entry, 0, len(ke.many))
	for h := range ke.many {
		out = append(out, x.slots[h])
	}
	return out
}

// all returns every entry held.
func (x *index) all() []*entry {
	out := make([]*entry, 0, x.len())
	for _, e := range x.slots[1:] {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// reset forgets every entry, marking each unregistered.
func (x *index) reset() {
	for _, e := range x.slots[1:] {
		if e != nil {
			e.slot = 0
		}
	}
	*x = newIndex()
}
