package dnscache

import (
	"encoding/binary"
	"iter"
)

// keyList is an entry's invalidation keys in one string, each key preceded
// by its length as a uvarint: one allocation where a slice of strings
// decoded from protobuf is one per key and one for the slice.
type keyList string

func newKeyList(keys []string) keyList {
	if len(keys) == 0 {
		return ""
	}
	return keyList(appendKeyList(make([]byte, 0, keyListLen(keys)), keys))
}

// keyListLen is the length of the keyList of keys.
func keyListLen(keys []string) int {
	n := 0
	for _, k := range keys {
		n += uvarintLen(uint64(len(k))) + len(k)
	}
	return n
}

// appendKeyList appends the keyList of keys to dst.
func appendKeyList(dst []byte, keys []string) []byte {
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
	}
	return dst
}

func uvarintLen(n uint64) int {
	w := 1
	for ; n >= 0x80; n >>= 7 {
		w++
	}
	return w
}

// all yields the keys in order.
func (l keyList) all() iter.Seq[string] {
	return func(yield func(string) bool) {
		s := string(l)
		for len(s) > 0 {
			n, w := uvarint(s)
			if w == 0 || uint64(len(s)-w) < n {
				return
			}
			if !yield(s[w : w+int(n)]) {
				return
			}
			s = s[w+int(n):]
		}
	}
}

// slice returns the keys as a new slice, nil when there are none.
func (l keyList) slice() []string {
	n := 0
	for range l.all() {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for k := range l.all() {
		out = append(out, k)
	}
	return out
}

// uvarint reads the uvarint at the start of s and its width, 0 when s does
// not start with one.
func uvarint(s string) (uint64, int) {
	var n uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		n |= uint64(s[i]&0x7f) << (7 * i)
		if s[i] < 0x80 {
			return n, i + 1
		}
	}
	return 0, 0
}
