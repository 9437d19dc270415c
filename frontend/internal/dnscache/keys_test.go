package dnscache

import (
	"slices"
	"strings"
	"testing"
)

func TestKeyList(t *testing.T) {
	long := strings.Repeat("k", 300) // a length of two varint bytes
	tests := []struct {
		name string
		keys []string
	}{
		{"none", nil},
		{"one", []string{"svc/ns/a"}},
		{"several", []string{"svc/ns/a", "ns/ns", "10.0.0.1"}},
		{"empty key", []string{"", "ns/ns"}},
		{"long key", []string{long, "ns/ns"}},
		{"separator bytes", []string{"a\x00b", "\xff\x80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newKeyList(tt.keys)
			if got := l.slice(); !slices.Equal(got, tt.keys) {
				t.Errorf("slice() = %q, want %q", got, tt.keys)
			}
			if (l == "") != (len(tt.keys) == 0) {
				t.Errorf("list %q empty = %v with %d keys", l, l == "", len(tt.keys))
			}
			var first string
			for k := range l.all() {
				first = k
				break
			}
			if len(tt.keys) > 0 && first != tt.keys[0] {
				t.Errorf("first key %q, want %q", first, tt.keys[0])
			}
		})
	}
}
