// Command seeddb fills a records database with realistic runs through the
// records package (make seed-db RUNS=N DB=FILE):
//
//	go run ./tools/seeddb -runs 200000 -db /tmp/station-seed.db
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"nrfline/records"
	"nrfline/records/seed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("seeddb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 10000, "number of runs to add")
	db := fs.String("db", "", "database file (created if missing; runs are added to what is there)")
	seedN := fs.Uint64("seed", 1, "random seed (same seed, same runs)")
	days := fs.Int("days", 365, "spread the runs over this many days up to now")
	batch := fs.Int("batch", 2000, "runs per transaction")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *db == "" || *runs < 0 || *days <= 0 {
		fmt.Fprintln(stderr, "seeddb: -db FILE is required; -runs ≥ 0, -days > 0")
		fs.Usage()
		return 2
	}
	store, err := records.Open(*db)
	if err != nil {
		fmt.Fprintf(stderr, "seeddb: %v\n", err)
		return 3
	}
	end := time.Now().UTC().Truncate(time.Second)
	cfg := seed.Config{Runs: *runs, Seed: *seedN, Start: end.AddDate(0, 0, -*days), End: end, Batch: *batch}
	t0 := time.Now()
	err = seed.Fill(ctx, store, cfg)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "seeddb: %v\n", err)
		return 3
	}
	fmt.Fprintf(stdout, "seeddb: %d runs written to %s in %s\n", *runs, *db, time.Since(t0).Round(time.Millisecond))
	return 0
}
