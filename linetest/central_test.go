package linetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nrfline/central/pgtest"
	"nrfline/station"
)

// startCentral runs a throwaway PostgreSQL for the test, with a proxy in
// front that can stall; it returns the cluster, the proxy and the URL the
// stations use (through the proxy).
func startCentral(t *testing.T) (*pgtest.Cluster, *pgtest.Proxy, string) {
	t.Helper()
	c, err := pgtest.Start("fsync=off")
	if errors.Is(err, pgtest.ErrMissing) {
		t.Skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.NewDB(t.Context(), "line"); err != nil {
		t.Fatal(err)
	}
	p, err := pgtest.NewProxy(fmt.Sprintf("127.0.0.1:%d", c.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return c, p, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/line?sslmode=disable&connect_timeout=2", p.Port())
}

var centralTable = regexp.MustCompile(`(?m)^\[central\]\n(?:[a-z_]+ = .*\n)*`)

// withCentral makes a line's config a station of its own on the central store.
func withCentral(id, url string) func(string) string {
	return func(cfg string) string {
		cfg = strings.Replace(cfg, "station_id = 'sim-line'", "station_id = '"+id+"'", 1)
		cfg = centralTable.ReplaceAllString(cfg, "")
		return cfg + "\n[central]\nurl = '" + url + "'\n"
	}
}

// Four stations of eight slots each share one PostgreSQL that is down when
// they start, killed mid-shift and restarted, and reached over a network
// that stalls for a while. Every bench provisions every unit each shift
// (the verdict never waits for PostgreSQL), and in the end the line-wide
// runs report is the four local ones together, run for run, with nothing
// missing and nothing twice; every station's backlog is empty.
func TestFourStationsShareOneCentralStore(t *testing.T) {
	if testing.Short() {
		t.Skip("four virtual lines of eight units")
	}
	cluster, proxy, url := startCentral(t)
	lines := make([]*virtualLine, 4)
	for i := range lines {
		lines[i] = startLine(t, lineSpec{units: 8, edit: withCentral(fmt.Sprintf("st%d", i+1), url)})
	}
	shift := func(name string, during func()) {
		t.Helper()
		t0 := time.Now()
		results := make([]batchResult, len(lines))
		var wg sync.WaitGroup
		for i, l := range lines {
			wg.Go(func() { results[i] = l.batch(t) })
		}
		if during != nil {
			during()
		}
		wg.Wait()
		for i, r := range results {
			if r.exit != 0 || len(r.verdicts) != 8 {
				var codes []string
				for slot, v := range r.verdicts {
					codes = append(codes, fmt.Sprintf("%s %s %s %s", slot, v.Outcome, v.Code, v.Detail))
				}
				t.Fatalf("%s: station st%d exit %d with %d verdicts: %s\nstderr:\n%s", name, i+1, r.exit, len(r.verdicts), strings.Join(codes, "; "), r.stderr)
			}
			for slot, v := range r.verdicts {
				if v.Outcome != station.Pass {
					t.Errorf("%s: st%d slot %s: %s %s%s", name, i+1, slot, v.Outcome, v.Code, r.explain(t, slot))
				}
			}
		}
		t.Logf("%s: 4 stations × 8 units in %v", name, time.Since(t0).Round(time.Millisecond))
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	shift("PostgreSQL down", nil)
	backlogs(t, lines, "at most 8 finished run(s) not yet")
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	shift("PostgreSQL killed mid-shift", func() {
		time.Sleep(2 * time.Second)
		if err := cluster.Kill(); err != nil {
			t.Error(err)
		}
	})
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	shift("network stalled", func() {
		proxy.Stall()
		time.Sleep(3 * time.Second)
		proxy.Resume()
	})
	proxy.Stall()
	shift("network stalled to the end", nil)
	backlogs(t, lines, "at most 8 finished run(s) not yet")
	proxy.Resume()
	shift("all well", nil)

	// Each station's backlog is empty: every local run is in PostgreSQL.
	backlogs(t, lines, "0 finished run(s) not yet")
	// The line's runs are the four stations' runs, run for run.
	var local []string
	for _, l := range lines {
		local = append(local, csvRows(t, exec.Command(stationBin, "report", "runs", "--db", l.dir+"/station.db"))...)
	}
	line := csvRows(t, exec.Command(stationBin, "report", "runs", "--db", url))
	slices.Sort(local)
	slices.Sort(line)
	if len(local) != 4*8*5 || !slices.Equal(line, local) {
		t.Fatalf("the line's runs report has %d runs, the stations together %d: they differ", len(line), len(local))
	}
	// And the summary counts them all, per station.
	out, err := exec.Command(stationBin, "report", "summary", "--db", url).CombinedOutput()
	if err != nil {
		t.Fatalf("report summary: %v\n%s", err, out)
	}
	for i := range lines {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^\s*st%d\s+40\s+40\s`, i+1)).Match(out) {
			t.Errorf("summary lacks st%d with 40 runs, 40 PASS:\n%s", i+1, out)
		}
	}
}

// backlogs checks what `station report sync` says of every station.
func backlogs(t *testing.T, lines []*virtualLine, want string) {
	t.Helper()
	for i, l := range lines {
		out, _ := exec.Command(stationBin, "report", "sync", "--config", l.config).CombinedOutput()
		if !bytes.Contains(out, []byte(fmt.Sprintf("station st%d: %s", i+1, want))) {
			t.Errorf("st%d report sync, want %q:\n%s", i+1, want, out)
		}
	}
}

// csvRows runs a runs report and returns its CSV rows without the header.
func csvRows(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	rows := strings.Split(strings.TrimRight(string(out), "\r\n"), "\r\n")
	return rows[1:]
}

// A unit that used up rules.max_attempts at one station is refused at the
// next one it is plugged into; with PostgreSQL down that station falls back
// to its own records, provisions the unit and says so in a note.
func TestMaxAttemptsHoldAcrossStations(t *testing.T) {
	cluster, _, url := startCentral(t)
	l := startLine(t, lineSpec{units: 1})
	base, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	stationCfg := func(id string) *virtualLine {
		cfg := withCentral(id, url)(string(base))
		cfg = strings.Replace(cfg, "database = 'station.db'", "database = '"+id+".db'", 1)
		cfg = regexp.MustCompile(`(?m)^max_attempts = 0$`).ReplaceAllString(cfg, "max_attempts = 2")
		if !strings.Contains(cfg, "max_attempts = 2") {
			t.Fatalf("cannot set rules.max_attempts in:\n%s", cfg)
		}
		path := filepath.Join(l.dir, id+".toml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return &virtualLine{Line: l.Line, dir: l.dir, config: path}
	}
	st1, st2 := stationCfg("st1"), stationCfg("st2")
	for i := range 2 {
		if r := st1.batch(t); r.exit != 0 {
			t.Fatalf("st1 attempt %d: exit %d\n%s", i+1, r.exit, r.explain(t, "A1"))
		}
	}
	r := st2.batch(t)
	if v := r.verdicts["A1"]; r.exit != 1 || v.Code != station.RetestLimit {
		t.Fatalf("st2 after two attempts at st1: exit %d, %s %s; want RETEST_LIMIT\n%s", r.exit, v.Outcome, v.Code, r.explain(t, "A1"))
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	r = st2.batch(t)
	if v := r.verdicts["A1"]; r.exit != 0 || v.Outcome != station.Pass {
		t.Fatalf("st2 with PostgreSQL down: exit %d, %s %s; want PASS on its own records\n%s", r.exit, v.Outcome, v.Code, r.explain(t, "A1"))
	}
	noted := false
	for _, ev := range r.of("A1") {
		noted = noted || ev.Kind == station.Note && strings.Contains(ev.Text, "central store unreachable")
	}
	if !noted {
		t.Errorf("no note that the line rules used this station's records only:\n%s", r.explain(t, "A1"))
	}
}
