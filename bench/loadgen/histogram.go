package loadgen

import (
	"math/bits"
	"time"
)

// subBits is the number of mantissa bits a latency keeps: 2^subBits
// buckets per power of two, so a bucket is at most 1/64 wide relative to
// its values (p99 within 1.6%).
const subBits = 6

// histBuckets covers every int64 nanosecond value.
const histBuckets = (64 - subBits + 1) << subBits

// histogram counts latencies in log-linear buckets: fixed size, no
// allocation per sample, mergeable across sockets.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
}

// bucket returns the bucket of d (d >= 0).
func bucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits // >= 1
	return e<<subBits | int(v>>(e-1)&(1<<subBits-1))
}

// bucketLow returns the smallest value of bucket b.
func bucketLow(b int) time.Duration {
	e, m := b>>subBits, uint64(b&(1<<subBits-1))
	if e == 0 {
		return time.Duration(m)
	}
	return time.Duration((1<<subBits | m) << (e - 1))
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucket(d)]++
	h.n++
	h.sum += d
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
}

// mean is the exact average latency.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// quantile returns the nearest-rank p-quantile, as the middle of its
// bucket.
func (h *histogram) quantile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(p*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			low, high := bucketLow(b), bucketLow(b+1)
			return low + (high-low)/2
		}
	}
	return 0
}
