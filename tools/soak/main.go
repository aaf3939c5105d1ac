// Command soak drives the station through many units on the virtual line,
// killing it at random, and checks that the records survived (make soak):
//
//	go run ./tools/soak -bin bin/station -units 10000 -slots 32 -speed 50
//
// The line (package sim) runs in this process; every round is one
// `station batch --once --json` of the built binary over the units present.
// Faults are drawn afresh every epoch (a few rounds): each slot gets one
// with probability -faults, of a kind picked uniformly from every kind the
// line knows. A round is SIGKILLed at a random moment with probability
// -kills and the next round starts at once.
//
// At the end it checks, and prints: every run a station announced is in
// the records (lost = 0), no run is left RUNNING, each faulted unit's
// verdict is its fault's, no PSK any unit held appears in any output (hex
// lower/upper, base64, raw) and the station's peak RSS at the end is within
// 10% of the start. The exit status is 1 when a check failed.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"nrfline/sim"
	"nrfline/station"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	bin         string
	dir         string
	units       int
	slots       int
	speed       float64
	faultRate   float64
	killRate    float64
	epochRounds int
	seed        uint64
	until       time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.bin, "bin", "bin/station", "the built station binary")
	fs.StringVar(&c.dir, "dir", "", "work folder (default: a new temporary one, removed when all checks pass)")
	fs.IntVar(&c.units, "units", 10000, "stop after this many unit runs reached a verdict")
	fs.IntVar(&c.slots, "slots", 32, "slots of the virtual line")
	fs.Float64Var(&c.speed, "speed", 50, "virtual line speed")
	fs.Float64Var(&c.faultRate, "faults", 0.05, "share of units given a fault")
	fs.Float64Var(&c.killRate, "kills", 0.1, "share of rounds whose station is SIGKILLed")
	fs.IntVar(&c.epochRounds, "epoch", 4, "rounds between fault draws (the line restarts)")
	fs.DurationVar(&c.until, "until", 0, "stop starting rounds after this long (0: when -units is reached); the checks still run")
	fs.Uint64Var(&c.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 2
	}
	c.bin = bin
	keep := c.dir != ""
	if !keep {
		if c.dir, err = os.MkdirTemp("", "soak"); err != nil {
			fmt.Fprintln(stderr, "soak:", err)
			return 2
		}
	}
	s := &soak{c: c, out: stdout, rng: rand.New(rand.NewPCG(c.seed, 1)), psks: map[string]bool{},
		announced: map[string]bool{}, printed: map[string]station.Verdict{}, faultOf: map[string]string{},
		firstOfEpoch: map[string]bool{}, afterKill: map[string]bool{}, faultRuns: map[string]int{}}
	fmt.Fprintf(stdout, "soak: %d units, %d slots, speed %g, faults %.0f%%, kills %.0f%% of rounds, seed %d, dir %s\n",
		c.units, c.slots, c.speed, 100*c.faultRate, 100*c.killRate, c.seed, c.dir)
	// SIGINT stops starting rounds; the checks still run.
	if err := s.drive(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	ok := s.check(context.Background())
	if ok && !keep {
		os.RemoveAll(c.dir)
	}
	if !ok {
		fmt.Fprintf(stdout, "soak: FAILED (files kept in %s)\n", c.dir)
		return 1
	}
	fmt.Fprintln(stdout, "soak: OK")
	return 0
}

// faultKinds is every fault the virtual line knows.
func faultKinds() []string {
	kinds := []string{"protected", "verify-error", "jlink-transient", "silent", "garbage", "cme-515",
		"stale-server-creds", "lte-never", "reset-during-bootstrap", "bootstrap-reject", "portal-500",
		"portal-slow", "portal-timeout"}
	for _, s := range sim.UnplugSteps {
		kinds = append(kinds, "unplug@"+s)
	}
	return kinds
}

// expected is the code a unit with the fault ends with ("" = PASS), and
// whether a retest within the same line start may PASS (the fault fires
// once: a chip recovered stays unprotected, a reboot happens once).
var expected = map[string]struct {
	code station.Code
	once bool
}{
	"protected": {"", false}, "jlink-transient": {"", false}, "stale-server-creds": {"", false}, "portal-slow": {"", false},
	"verify-error": {station.FlashVerify, false}, "silent": {station.ModemNotReady, false},
	"garbage": {station.ModemGarbled, false}, "cme-515": {station.CredMemoryFull, false},
	"lte-never": {station.LTENoAttach, false}, "reset-during-bootstrap": {station.UnexpectedReboot, true},
	"bootstrap-reject": {station.BootstrapRejected, false}, "portal-500": {station.PortalServerError, false},
	"portal-timeout": {station.PortalUnreachable, false},
	"unplug@flash":   {station.UnitUnplugged, false}, "unplug@identify": {station.UnitUnplugged, false},
	"unplug@inject": {station.UnitUnplugged, false}, "unplug@register": {station.UnitUnplugged, false},
	"unplug@bootstrap": {station.UnitUnplugged, false},
}

type soak struct {
	c   config
	out io.Writer
	rng *rand.Rand

	rounds, kills, verdicts int
	lastKilled              bool
	psks                    map[string]bool            // every PSK a unit held, lower hex
	announced               map[string]bool            // run ids a station printed run_started for
	printed                 map[string]station.Verdict // verdicts a station printed, by run id
	faultOf                 map[string]string          // run id → the fault its slot had ("" none)
	firstOfEpoch            map[string]bool            // run id → first run of its slot since the line started
	afterKill               map[string]bool            // run id → its round followed a killed one
	faultRuns               map[string]int             // runs per fault kind
	rss                     []int64                    // the station's peak RSS per finished round, KiB
	simRSS                  [2]int64                   // this process (the virtual line) after round 1 and at the end
	started                 time.Time
}

// more says whether another round is due: too few verdicts yet, or the
// last round was killed (the next start closes its runs as ABORTED).
func (s *soak) more() bool {
	if s.lastKilled {
		return true
	}
	if s.c.until > 0 && time.Since(s.started) > s.c.until {
		return false
	}
	return s.verdicts < s.c.units
}

// drive runs epochs until enough units reached a verdict.
func (s *soak) drive(ctx context.Context) error {
	s.started = time.Now()
	for epoch := 0; s.more(); epoch++ {
		if err := s.epoch(ctx, epoch); err != nil {
			return err
		}
		if ctx.Err() != nil && !s.lastKilled {
			return ctx.Err()
		}
	}
	return nil
}

func (s *soak) epoch(ctx context.Context, n int) error {
	faults := make([]sim.Faults, s.c.slots)
	names := make([]string, s.c.slots)
	var spec []string
	for i := range faults {
		if s.rng.Float64() >= s.c.faultRate {
			continue
		}
		kinds := faultKinds()
		names[i] = kinds[s.rng.IntN(len(kinds))]
		spec = append(spec, fmt.Sprintf("%s:%d", names[i], i+1))
	}
	parsed, err := sim.ParseFaults(strings.Join(spec, ","), s.c.slots)
	if err != nil {
		return err
	}
	copy(faults, parsed)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	l, err := sim.Start(lctx, sim.Options{Units: s.c.slots, Dir: s.c.dir, Speed: s.c.speed, Faults: faults, ToolExe: s.c.bin})
	if err != nil {
		return fmt.Errorf("start the virtual line: %w", err)
	}
	defer l.Close()
	seen := map[string]bool{}
	for r := 0; r < s.c.epochRounds && s.more() && (ctx.Err() == nil || s.lastKilled); r++ {
		if err := s.round(ctx, l, names, seen); err != nil {
			return err
		}
	}
	return nil
}

// round runs one `station batch --once --json`, maybe kills it, and notes
// what it printed and the keys the units hold afterwards.
func (s *soak) round(ctx context.Context, l *sim.Line, faults []string, seen map[string]bool) error {
	s.rounds++
	base := filepath.Join(s.c.dir, "out", fmt.Sprintf("round-%05d", s.rounds))
	os.MkdirAll(filepath.Dir(base), 0o755)
	stdout, err := os.Create(base + ".out")
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.Create(base + ".err")
	if err != nil {
		return err
	}
	defer stderr.Close()
	afterKill := s.lastKilled
	cmd := exec.CommandContext(context.WithoutCancel(ctx), s.c.bin, "batch", "--config", l.ConfigPath(), "--once", "--json")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	killed := false
	if s.rng.Float64() < s.c.killRate {
		at := time.Duration(100+s.rng.IntN(2000)) * time.Millisecond
		t := time.AfterFunc(at, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer t.Stop()
		killed = true
	}
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	killed = killed && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	s.lastKilled = killed
	if killed {
		s.kills++
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rss = append(s.rss, ru.Maxrss)
	}
	if err != nil && !killed && cmd.ProcessState.ExitCode() != 1 {
		b, _ := os.ReadFile(base + ".err")
		return fmt.Errorf("round %d: station batch: %v\n%s", s.rounds, err, b)
	}
	if err := s.note(base+".out", faults, seen, afterKill); err != nil {
		return err
	}
	for _, u := range l.Units() {
		for _, tag := range []uint32{100, 101} {
			if k := u.Credentials(tag)[3]; k != "" {
				s.psks[strings.ToLower(k)] = true
			}
		}
	}
	if s.rounds == 1 {
		s.simRSS[0] = selfRSS()
	}
	if s.rounds%25 == 0 {
		fmt.Fprintf(s.out, "soak: round %d, %d verdicts, %d kills, %s\n", s.rounds, s.verdicts, s.kills, time.Since(s.started).Round(time.Second))
	}
	return nil
}

// note reads a round's JSON events.
func (s *soak) note(path string, faults []string, seen map[string]bool, afterKill bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var ev station.Event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // a line cut by the kill
		}
		switch ev.Kind {
		case station.RunStarted:
			s.announced[ev.Run] = true
			s.afterKill[ev.Run] = afterKill
			slot := slotIndex(ev.Slot)
			if slot >= 0 && slot < len(faults) {
				s.faultOf[ev.Run] = faults[slot]
			}
			s.firstOfEpoch[ev.Run] = !seen[ev.Slot]
			seen[ev.Slot] = true
		case station.VerdictReached:
			s.printed[ev.Run] = *ev.Verdict
			if ev.Verdict.Outcome != station.Aborted {
				s.verdicts++
			}
		}
	}
	return nil
}

func slotIndex(name string) int {
	var n int
	if _, err := fmt.Sscanf(name, "A%d", &n); err != nil {
		return -1
	}
	return n - 1
}

type runRow struct {
	ID      string `json:"id"`
	Slot    string `json:"slot"`
	Outcome string `json:"outcome"`
	Code    string `json:"code"`
	Step    string `json:"step"`
}

// check compares what the stations printed with the records and scans
// every output for keys.
func (s *soak) check(ctx context.Context) bool {
	wall := time.Since(s.started)
	s.simRSS[1] = selfRSS()
	db := filepath.Join(s.c.dir, "station.db")
	js, err := exec.CommandContext(ctx, s.c.bin, "report", "runs", "--db", db, "--format", "json").Output()
	if err != nil {
		fmt.Fprintf(s.out, "soak: report runs: %v\n", err)
		return false
	}
	csv, err := exec.CommandContext(ctx, s.c.bin, "report", "runs", "--db", db, "--format", "csv").Output()
	if err != nil {
		fmt.Fprintf(s.out, "soak: report runs csv: %v\n", err)
		return false
	}
	var rows []runRow
	if err := json.Unmarshal(js, &rows); err != nil {
		fmt.Fprintf(s.out, "soak: report runs: %v\n", err)
		return false
	}
	byID := map[string]runRow{}
	outcomes := map[string]int{}
	for _, r := range rows {
		byID[r.ID] = r
		outcomes[r.Outcome]++
	}
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Fprintf(s.out, "soak: FAIL "+format+"\n", args...)
	}
	lost, differ := 0, 0
	for id := range s.announced {
		if _, in := byID[id]; !in {
			lost++
		}
	}
	for id, v := range s.printed {
		if r, in := byID[id]; !in || r.Outcome != string(v.Outcome) || r.Code != string(v.Code) {
			differ++
			if differ <= 5 {
				fmt.Fprintf(s.out, "soak:   printed %s %s %s, recorded %+v\n", id, v.Outcome, v.Code, r)
			}
		}
	}
	fmt.Fprintf(s.out, "soak: units with a verdict %d (target %d), rounds %d, station kills %d, wall %s\n",
		s.verdicts, s.c.units, s.rounds, s.kills, wall.Round(time.Second))
	fmt.Fprintf(s.out, "soak: runs announced %d, recorded %d (%v), verdicts printed %d (not aborted %d)\n",
		len(s.announced), len(rows), outcomes, len(s.printed), s.verdicts)
	fmt.Fprintf(s.out, "soak: lost %d, printed verdict differs from record %d, RUNNING %d\n", lost, differ, outcomes["RUNNING"])
	if lost > 0 || differ > 0 || outcomes["RUNNING"] > 0 {
		fail("records lost or wrong")
	}
	s.checkFaults(byID, fail)
	s.checkRSS(fail)
	s.checkSecrets(csv, js, fail)
	return ok
}

// checkFaults: every faulted unit ends with its fault's code; an
// unfaulted unit PASSes. Runs a kill aborted are the kill's.
func (s *soak) checkFaults(byID map[string]runRow, fail func(string, ...any)) {
	type tally struct{ runs, match int }
	kinds := map[string]*tally{}
	var bad []string
	for id, fault := range s.faultOf {
		r, in := byID[id]
		if !in || r.Outcome == "ABORTED" {
			continue
		}
		want := expected[fault]
		got := station.Code(r.Code)
		okay := got == want.code || (want.once && !s.firstOfEpoch[id] && got == "")
		name := fault
		if name == "" {
			name = "(none)"
		}
		t := kinds[name]
		if t == nil {
			t = &tally{}
			kinds[name] = t
		}
		t.runs++
		if okay {
			t.match++
		} else {
			after := ""
			if s.afterKill[id] {
				after = " (round after a kill)"
			}
			bad = append(bad, fmt.Sprintf("%s %s: %s %s at %s%s", name, r.Slot, r.Outcome, r.Code, r.Step, after))
		}
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(s.out, "soak: faults by kind (runs with a verdict / ended as the fault says):\n")
	for _, k := range names {
		fmt.Fprintf(s.out, "soak:   %-24s %5d / %5d\n", k, kinds[k].runs, kinds[k].match)
	}
	if len(bad) > 0 {
		counts := map[string]int{}
		for _, b := range bad {
			counts[b[:strings.Index(b, " ")]+" → "+b[strings.Index(b, ": ")+2:]]++ // drop the slot
		}
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(s.out, "soak:   unexpected: %4d × %s\n", counts[k], k)
		}
		fail("%d runs did not end as their fault says", len(bad))
	}
}

func (s *soak) checkRSS(fail func(string, ...any)) {
	n := min(10, len(s.rss)/2)
	if n == 0 {
		fail("no round finished unkilled: no RSS figures")
		return
	}
	start, end := median(s.rss[:n]), median(s.rss[len(s.rss)-n:])
	fmt.Fprintf(s.out, "soak: station peak RSS (median of first/last %d rounds) start %d KiB, end %d KiB (%+.1f%%)\n",
		n, start, end, 100*float64(end-start)/float64(start))
	fmt.Fprintf(s.out, "soak: virtual line (this process) RSS after round 1 %d KiB, end %d KiB\n", s.simRSS[0], s.simRSS[1])
	if float64(end) > 1.1*float64(start) {
		fail("the station's RSS grew more than 10%%")
	}
}

func median(v []int64) int64 {
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}

// selfRSS is this process's resident set, KiB.
func selfRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb
		}
	}
	return 0
}

// checkSecrets scans every station output, the database files and the
// exports for any PSK a unit held.
func (s *soak) checkSecrets(csv, js []byte, fail func(string, ...any)) {
	if len(s.psks) == 0 {
		fail("no PSK collected: the scan would prove nothing")
		return
	}
	sc := newScanner(s.psks)
	blobs := map[string][]byte{"export.csv": csv, "export.json": js}
	var files []string
	filepath.WalkDir(s.c.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(p, filepath.Join(s.c.dir, "out")) || strings.Contains(filepath.Base(p), "station.db")) {
			files = append(files, p)
		}
		return nil
	})
	var bytesScanned int64
	hits := 0
	scan := func(name string, b []byte) {
		bytesScanned += int64(len(b))
		if h := sc.hits(b); h > 0 {
			hits += h
			fmt.Fprintf(s.out, "soak:   %s holds %d PSK occurrence(s)\n", name, h)
		}
	}
	for name, b := range blobs {
		scan(name, b)
	}
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			scan(p, b)
		}
	}
	fmt.Fprintf(s.out, "soak: PSK scan: %d keys × hex lower/upper, base64, raw over %d files, %d MB: %d hits\n",
		len(s.psks), len(files)+len(blobs), bytesScanned>>20, hits)
	if hits > 0 {
		fail("PSKs in the output")
	}
}

// scanner finds any of a set of keys in a blob in one pass per form.
type scanner struct {
	forms map[int]map[string]bool // window length → encodings of the keys
}

func newScanner(psks map[string]bool) *scanner {
	sc := &scanner{forms: map[int]map[string]bool{}}
	add := func(s string) {
		if sc.forms[len(s)] == nil {
			sc.forms[len(s)] = map[string]bool{}
		}
		sc.forms[len(s)][s] = true
	}
	for k := range psks {
		raw, err := hex.DecodeString(k)
		if err != nil {
			continue
		}
		add(k)
		add(strings.ToUpper(k))
		add(string(raw))
		for _, enc := range encodings(raw) {
			add(enc)
		}
	}
	return sc
}

func (sc *scanner) hits(b []byte) int {
	n := 0
	for w, set := range sc.forms {
		for i := 0; i+w <= len(b); i++ {
			if set[string(b[i:i+w])] {
				n++
			}
		}
	}
	return n
}

// encodings are the base64 forms of raw (without padding, so that a
// padded or a longer encoding contains them too).
func encodings(raw []byte) []string {
	return []string{base64.RawStdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)}
}
