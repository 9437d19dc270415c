package fanout

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogramBuckets covers up to about 2^(histogramBuckets/64) microseconds
// (hours) with 64 buckets per power of two: a bucket is at most 1/64 of its
// value wide.
const histogramBuckets = 64 * 32

// Histogram counts durations; Add is safe for concurrent use and takes no
// lock, so that thousands of subscribers can record their deliveries.
type Histogram struct {
	counts [histogramBuckets]atomic.Int64
	n      atomic.Int64
}

// bucketOf maps microseconds to a bucket: exact below 64 µs, then 64
// buckets per power of two.
func bucketOf(us uint64) int {
	if us < 64 {
		return int(us)
	}
	shift := bits.Len64(us) - 7
	return min(shift*64+int(us>>shift), histogramBuckets-1)
}

// bucketValue is the middle of bucket i, in microseconds.
func bucketValue(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	shift := (i - 64) / 64
	mant := i - shift*64
	low := float64(uint64(mant) << shift)
	return low + float64(uint64(1)<<shift)/2
}

// Add counts d (negative durations count as 0).
func (h *Histogram) Add(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)/time.Microsecond))].Add(1)
	h.n.Add(1)
}

// Count is the number of durations added.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Quantile returns the nearest-rank p-quantile (0 < p <= 1), to the
// bucket's precision; 0 when empty.
func (h *Histogram) Quantile(p float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(float64(n)*p + 0.999999)
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(bucketValue(i) * float64(time.Microsecond))
		}
	}
	return time.Duration(bucketValue(histogramBuckets-1) * float64(time.Microsecond))
}
