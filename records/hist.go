package records

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// Cycle times are kept as log-scale histograms: bucket b ≥ 1 holds values in
// [histMin·γ^(b-1), histMin·γ^b) with γ = 1.02, bucket 0 everything below
// histMin. A percentile read back is the bucket's geometric middle, within
// 1 % of the true value, and histograms of many days simply add up.
const (
	histMin     = 0.001 // seconds
	histGrowth  = 1.02
	histBuckets = 1100 // up to histMin·γ^1099 ≈ 2.8e6 s
)

// hist is a histogram of durations in seconds.
type hist struct {
	n      int64
	counts []int64 // by bucket; grown on demand
}

func bucketOf(sec float64) int {
	if !(sec >= histMin) { // also NaN
		return 0
	}
	b := 1 + int(math.Floor(math.Log(sec/histMin)/math.Log(histGrowth)))
	return min(b, histBuckets-1)
}

// bucketValue is the representative value of bucket b.
func bucketValue(b int) float64 {
	if b == 0 {
		return 0
	}
	lo := histMin * math.Pow(histGrowth, float64(b-1))
	return lo * math.Sqrt(histGrowth)
}

func (h *hist) addCount(b int, c int64) {
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, b+1-len(h.counts))...)
	}
	h.counts[b] += c
	h.n += c
}

func (h *hist) add(sec float64) { h.addCount(bucketOf(sec), 1) }

// merge adds o to h.
func (h *hist) merge(o *hist) {
	for b, c := range o.counts {
		if c != 0 {
			h.addCount(b, c)
		}
	}
}

// encode writes the non-empty buckets as uvarint pairs (bucket delta, count).
func (h *hist) encode() []byte {
	out := make([]byte, 0, 64)
	prev := 0
	for b, c := range h.counts {
		if c == 0 {
			continue
		}
		out = binary.AppendUvarint(out, uint64(b-prev))
		out = binary.AppendUvarint(out, uint64(c))
		prev = b
	}
	return out
}

var errHist = errors.New("malformed histogram")

// decodeAdd adds an encoded histogram to h.
func (h *hist) decodeAdd(blob []byte) error {
	b := 0
	for len(blob) > 0 {
		d, n := binary.Uvarint(blob)
		if n <= 0 {
			return errHist
		}
		blob = blob[n:]
		c, n := binary.Uvarint(blob)
		if n <= 0 {
			return errHist
		}
		blob = blob[n:]
		b += int(d)
		if b >= histBuckets || c > math.MaxInt32 {
			return errHist
		}
		h.addCount(b, int64(c))
	}
	return nil
}

// quantile returns the value below which a share q of the samples lie
// (nearest rank), or 0 for an empty histogram.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketValue(b)
		}
	}
	return bucketValue(len(h.counts) - 1)
}

// hists are named histograms: the cycle times of one day.
type hists map[string]*hist

func (hs hists) get(name string) *hist {
	h := hs[name]
	if h == nil {
		h = &hist{}
		hs[name] = h
	}
	return h
}

func (hs hists) merge(o hists) {
	for name, h := range o {
		hs.get(name).merge(h)
	}
}

// encode writes the histograms sorted by name, each as uvarint name length,
// name, uvarint histogram length, histogram.
func (hs hists) encode() []byte {
	names := make([]string, 0, len(hs))
	for n := range hs {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []byte
	for _, n := range names {
		h := hs[n].encode()
		out = binary.AppendUvarint(out, uint64(len(n)))
		out = append(out, n...)
		out = binary.AppendUvarint(out, uint64(len(h)))
		out = append(out, h...)
	}
	return out
}

// decodeAdd adds encoded histograms to hs.
func (hs hists) decodeAdd(blob []byte) error {
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(blob)
		if k <= 0 || n > uint64(len(blob)-k) {
			return nil, errHist
		}
		b := blob[k : k+int(n)]
		blob = blob[k+int(n):]
		return b, nil
	}
	for len(blob) > 0 {
		name, err := next()
		if err != nil {
			return err
		}
		h, err := next()
		if err != nil {
			return err
		}
		if err := hs.get(string(name)).decodeAdd(h); err != nil {
			return err
		}
	}
	return nil
}
