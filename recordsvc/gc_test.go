package main

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads the garbage collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestListCollector(t *testing.T) {
	tests := []struct {
		name   string
		normal int
		// held is the target while two holds are taken.
		held int
	}{
		{name: "default", normal: 100, held: syncGCPercent},
		{name: "higher", normal: 400, held: syncGCPercent},
		{name: "lower left alone", normal: 10, held: 10},
		{name: "off left alone", normal: -1, held: -1},
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(tt.normal)
			c := newListCollector()
			first, second := c.hold(), c.hold()
			if got := gcPercent(); got != tt.held {
				t.Fatalf("held twice: GOGC %d, want %d", got, tt.held)
			}
			first()
			first() // a second call releases nothing
			if got := gcPercent(); got != tt.held {
				t.Fatalf("one hold left: GOGC %d, want %d", got, tt.held)
			}
			second()
			if got := gcPercent(); got != tt.normal {
				t.Fatalf("released: GOGC %d, want %d", got, tt.normal)
			}
		})
	}
}
