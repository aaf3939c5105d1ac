package records_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"nrfline/records"
	"nrfline/records/seed"
)

// benchDB returns a seeded database: $RECORDS_BENCH_DB if set (make bench
// passes the 200k-run database it seeded), else 20k runs seeded into a
// temporary file.
func benchDB(b *testing.B) string {
	if p := os.Getenv("RECORDS_BENCH_DB"); p != "" {
		return p
	}
	path := dbPath(b)
	s, err := records.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := seed.Fill(context.Background(), s, seed.Config{Runs: 20000, Seed: 7}); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkExportCSV(b *testing.B) {
	r := mustReader(b, benchDB(b))
	b.ResetTimer()
	for b.Loop() {
		n, err := r.ExportRuns(context.Background(), io.Discard, records.Filter{}, records.CSV, records.ExportOptions{})
		if err != nil || n == 0 {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkSummary(b *testing.B) {
	r := mustReader(b, benchDB(b))
	since := time.Now().AddDate(0, -6, 0).Add(-7 * time.Hour) // not day-aligned: exercises the raw edges
	for _, tc := range []struct {
		name string
		f    records.Filter
	}{{"all", records.Filter{}}, {"half-year", records.Filter{Since: since}}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Summary(context.Background(), tc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerdictCommit has 32 slots record whole runs at once, as the
// engine would, and reports the latency of the verdict's Record (the
// durable commit) as p50/p99 in ms.
func BenchmarkVerdictCommit(b *testing.B) {
	const slots = 32
	s := mustOpen(b, commitDB(b))
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	per := max(b.N/slots, 1)
	var wg sync.WaitGroup
	for slot := range slots {
		wg.Go(func() {
			cfg := seed.Config{Runs: per, Seed: uint64(slot + 1), Slots: 1}
			for r := range seed.Runs(cfg) {
				r.ID = fmt.Sprintf("%s-%02d", r.ID[:33], slot)
				r.Start.Slot.Name = fmt.Sprintf("S%02d", slot)
				evs := seed.Events(r)
				for _, ev := range evs[:len(evs)-1] {
					if err := s.Record(context.Background(), ev); err != nil {
						b.Error(err)
						return
					}
				}
				t := time.Now()
				if err := s.Record(context.Background(), evs[len(evs)-1]); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "verdicts")
}

// commitDB is where the commit benchmark writes: a copy of
// $RECORDS_BENCH_DB when set (make bench: commits land on a year of runs, as
// on a line that has been running), else an empty file.
func commitDB(b *testing.B) string {
	path := dbPath(b)
	src := os.Getenv("RECORDS_BENCH_DB")
	if src == "" {
		return path
	}
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// The baselines of the speed targets, through database/sql in this process:
// reading every column of every run, and counting runs by outcome.
func BenchmarkBaselineSelectAll(b *testing.B) {
	db := rawDB(b, benchDB(b))
	for b.Loop() {
		rows, err := db.Query("SELECT * FROM runs")
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
		}
		rows.Close()
	}
}

func BenchmarkBaselineGroupByOutcome(b *testing.B) {
	db := rawDB(b, benchDB(b))
	for b.Loop() {
		rows, err := db.Query("SELECT outcome, count(*) FROM runs GROUP BY outcome")
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
	}
}
