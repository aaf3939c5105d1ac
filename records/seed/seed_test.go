package seed_test

import (
	"context"
	"path/filepath"
	"testing"

	"nrfline/records"
	"nrfline/records/seed"
	"nrfline/station"
)

func TestSeedIsRealistic(t *testing.T) {
	const n = 20000
	var fails, retests, unidentified int
	seen := map[string]bool{}
	prev := ""
	for r := range seed.Runs(seed.Config{Runs: n, Seed: 5}) {
		if r.ID <= prev {
			t.Fatalf("run ids not in start order: %s after %s", r.ID, prev)
		}
		prev = r.ID
		if r.Verdict.Outcome != station.Pass {
			fails++
			if last := r.Steps[len(r.Steps)-1]; last.Step != r.Verdict.Step || last.Code != r.Verdict.Code {
				t.Fatalf("run %s failed %s at %s but its last step is %s %s", r.ID, r.Verdict.Code, r.Verdict.Step, last.Step, last.Code)
			}
		} else if len(r.Steps) != len(station.Steps) {
			t.Fatalf("passing run %s has %d steps", r.ID, len(r.Steps))
		}
		switch imei := r.Identity.IMEI; {
		case imei == "":
			unidentified++
		case seen[imei]:
			retests++
		default:
			seen[imei] = true
		}
	}
	if share := float64(fails) / n; share < 0.025 || share > 0.035 {
		t.Errorf("failure share %.4f, want about 3 %%", share)
	}
	if share := float64(retests) / n; share < 0.015 || share > 0.025 {
		t.Errorf("retest share %.4f, want about 2 %%", share)
	}
	if unidentified == 0 {
		t.Error("no run failed before identify")
	}
}

func TestFillGoesThroughTheRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.db")
	s, err := records.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.Fill(context.Background(), s, seed.Config{Runs: 1500, Batch: 400, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := records.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sum, err := r.Summary(context.Background(), records.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Runs != 1500 || sum.Pass+sum.Fail+sum.Error+sum.Aborted != 1500 || len(sum.Pareto) == 0 || len(sum.Cycle) != 9 || len(sum.Slots) != 16 {
		t.Errorf("summary of the seeded database: %+v", sum)
	}
}
