// Package seed fills a records database with realistic runs, through the
// records package itself: a year of a 16-slot line, 8 steps per passing run,
// about 3 % failures spread over the codes that happen at each step, and
// about 2 % retests of units that failed earlier.
package seed

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"nrfline/records"
	"nrfline/station"
)

// Config shapes the generated runs.
type Config struct {
	Runs      int
	Seed      uint64
	Start     time.Time // first run; default: one year before End
	End       time.Time // last run; default: now
	Slots     int       // default 16
	Batch     int       // runs per transaction; default 2000
	FailRate  float64   // default 0.03
	RetestPct float64   // default 0.02
}

func (c *Config) defaults() {
	if c.End.IsZero() {
		c.End = time.Now().UTC().Truncate(time.Second)
	}
	if c.Start.IsZero() {
		c.Start = c.End.AddDate(-1, 0, 0)
	}
	if c.Slots <= 0 {
		c.Slots = 16
	}
	if c.Batch <= 0 {
		c.Batch = 2000
	}
	if c.FailRate == 0 {
		c.FailRate = 0.03
	}
	if c.RetestPct == 0 {
		c.RetestPct = 0.02
	}
}

// failure is a way a run can end other than PASS.
type failure struct {
	code   station.Code
	step   station.StepName
	weight int
	detail string
}

// failures are weighted like a real line's Pareto: flash and bootstrap
// problems lead, infrastructure errors are rare.
var failures = []failure{
	{station.FlashVerify, station.StepFlash, 14, `nrfjprog exited 55: ERROR: The verify operation failed, at address 0x00012000.`},
	{station.FlashJLink, station.StepFlash, 9, `nrfjprog exited 33: ERROR: JLinkARM DLL reported an error. "Could not connect to target"`},
	{station.FlashProtected, station.StepFlash, 4, "chip is read-back protected and flash.recover is off"},
	{station.ModemNotReady, station.StepIdentify, 8, "no OK to AT within 30s"},
	{station.SIMNotReady, station.StepIdentify, 5, "+CME ERROR: 10 (SIM not inserted) on AT+CIMI"},
	{station.CredMemoryFull, station.StepInject, 4, "AT%CMNG=0,100,3,... answered +CME ERROR: 515"},
	{station.PortalServerError, station.StepRegister, 6, "POST /api/clients: 503 Service Unavailable after 3 tries"},
	{station.PortalUnreachable, station.StepRegister, 3, "dial tcp 10.0.0.5:8080: connect: connection refused"},
	{station.BootstrapTimeout, station.StepBootstrap, 16, "no bootstrap before the timeout"},
	{station.LTENoAttach, station.StepBootstrap, 12, "no LTE attach reported before the timeout"},
	{station.BootstrapRejected, station.StepBootstrap, 5, "unit log: Bootstrap registration failure!"},
	{station.RegistrationFailed, station.StepBootstrap, 3, "unit log: Registration failure!"},
	{station.ServerTagEmpty, station.StepVerify, 3, "sec_tag 101 holds psk=false identity=true"},
	{station.UnitUnplugged, station.StepBootstrap, 4, "read /dev/ttyACM3: the unit disappeared from USB,\nreopen failed"},
	{station.PortUnavailable, station.StepConnect, 2, "open /dev/ttyACM7: device or resource busy"},
	{station.Interrupted, station.StepFlash, 2, "interrupted by the operator"},
}

// stepTimes are plausible durations (min, max seconds) of passing steps.
var stepTimes = map[station.StepName][2]float64{
	station.StepConnect: {0.05, 0.3}, station.StepFlash: {18, 32}, station.StepIdentify: {2, 6},
	station.StepInject: {1.5, 3.5}, station.StepRegister: {0.3, 1.8}, station.StepProbe: {1, 3},
	station.StepBootstrap: {25, 95}, station.StepVerify: {2, 7},
}

var operators = []string{"Anna K.", "Ben O.", "Chen L.", "Dana M.", "Eli R.", "Fatima S."}

// generator makes runs in start-time order.
type generator struct {
	cfg      Config
	rng      *rand.Rand
	next     int   // serial of the next new unit
	failed   []int // identified units whose last run failed: retested first
	seen     []int // every identified unit: retested when no failed one waits (rework)
	weights  int
	interval time.Duration
}

func newGenerator(cfg Config) *generator {
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), next: 100000}
	for _, f := range failures {
		g.weights += f.weight
	}
	g.interval = cfg.End.Sub(cfg.Start) / time.Duration(max(cfg.Runs, 1))
	return g
}

// Fill writes cfg.Runs runs into store, cfg.Batch per transaction.
func Fill(ctx context.Context, store *records.Store, cfg Config) error {
	cfg.defaults()
	batch := make([]records.Run, 0, cfg.Batch)
	i := 0
	for r := range Runs(cfg) {
		i++
		batch = append(batch, r)
		if len(batch) == cfg.Batch || i == cfg.Runs {
			if err := store.Import(ctx, batch); err != nil {
				return fmt.Errorf("import runs up to %d: %w", i, err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// Runs generates cfg.Runs runs in start-time order.
func Runs(cfg Config) iter.Seq[records.Run] {
	cfg.defaults()
	return func(yield func(records.Run) bool) {
		g := newGenerator(cfg)
		for i := range cfg.Runs {
			if !yield(g.run(i)) {
				return
			}
		}
	}
}

// Events is the event sequence the engine emits for r, for feeding a
// Recorder: run start, each step's start and end (the identity inside the
// identify step, the transcript as device lines in the first step), verdict.
func Events(r records.Run) []station.Event {
	ev := func(kind station.EventKind, at time.Time, step station.StepName) station.Event {
		return station.Event{Kind: kind, Time: at, Slot: r.Start.Slot.Name, Run: r.ID, Step: step}
	}
	start := r.Start
	e := ev(station.RunStarted, start.Started, "")
	e.Start = &start
	out := []station.Event{e}
	for i, s := range r.Steps {
		out = append(out, ev(station.StepStarted, s.Started, s.Step))
		if i == 0 {
			for _, l := range r.Transcript {
				e := ev(station.DeviceLine, s.Started, s.Step)
				e.Dir, e.Text = station.DirLog, l
				out = append(out, e)
			}
		}
		if s.Step == station.StepIdentify && r.Identity.IMEI != "" {
			id := r.Identity
			e := ev(station.UnitIdentified, s.Ended, s.Step)
			e.Identity = &id
			out = append(out, e)
		}
		res := s
		e := ev(station.StepFinished, s.Ended, s.Step)
		e.Result = &res
		out = append(out, e)
	}
	v := r.Verdict
	e = ev(station.VerdictReached, v.Ended, v.Step)
	e.Verdict = &v
	return append(out, e)
}

// IMEI makes a Luhn-valid IMEI from a unit serial.
func IMEI(serial int) string {
	body := "35265610" + fmt.Sprintf("%06d", serial%1000000)
	sum := 0
	for i := range len(body) {
		d := int(body[i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + strconv.Itoa((10-sum%10)%10)
}

func (g *generator) between(lo, hi float64) float64 { return lo + g.rng.Float64()*(hi-lo) }

func (g *generator) run(i int) records.Run {
	started := g.cfg.Start.Add(time.Duration(i)*g.interval + time.Duration(g.rng.Int64N(int64(g.interval)+1)))
	slot := i % g.cfg.Slots
	serial := g.unit()
	id := g.uuidAt(started)
	r := records.Run{ID: id.String(), Start: station.RunStart{
		StationID: "line1-st3", StationVersion: "v1.4.2", Operator: operators[(i/500)%len(operators)],
		Slot:      station.Slot{Name: fmt.Sprintf("%c%d", 'A'+slot/4, slot%4+1), Probe: strconv.Itoa(1051202100 + slot)},
		Firmware:  station.Firmware{Name: "app_signed_v2.3.1.hex", SHA256: "9F2C4E0A7B1D3F5E6C8A9B0D1E2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0F"},
		FlashTool: "nrfjprog", FlashVersion: "10.24.2", Started: started,
	}}
	fail := g.failure()
	t := started
	for _, name := range station.Steps {
		span := stepTimes[name]
		d := time.Duration(g.between(span[0], span[1]) * float64(time.Second))
		res := station.StepResult{Step: name, Started: t, Ended: t.Add(d), Outcome: station.Pass}
		if name == station.StepFlash {
			res.Measurements = map[string]float64{"flash_seconds": d.Seconds()}
		}
		if name == station.StepBootstrap {
			res.Measurements = map[string]float64{"bootstrap_seconds": d.Seconds() * 0.6, "register_seconds": d.Seconds()}
		}
		t = res.Ended
		if fail != nil && fail.step == name {
			res.Outcome, res.Code, res.Detail = fail.code.Outcome(), fail.code, string(fail.code)+": "+fail.detail
		}
		r.Steps = append(r.Steps, res)
		if name == station.StepIdentify && res.Outcome == station.Pass {
			r.Identity = station.Identity{IMEI: IMEI(serial), ICCID: "8988228066" + fmt.Sprintf("%010d", serial),
				IMSI: "90128" + fmt.Sprintf("%010d", serial), ModemFW: "mfw_nrf91x1_2.0.2", Model: "nRF9151-LACA", HWVersion: "nRF9151 LACA A0A"}
		}
		if res.Outcome != station.Pass {
			break
		}
	}
	v := station.Verdict{Run: r.ID, Slot: r.Start.Slot.Name, IMEI: r.Identity.IMEI, Outcome: station.Pass,
		Started: started, Ended: t.Add(50 * time.Millisecond)}
	if fail != nil {
		v.Outcome, v.Code, v.Step, v.Detail = fail.code.Outcome(), fail.code, fail.step, string(fail.code)+": "+fail.detail
		r.Transcript = transcript(fail, r.Identity.IMEI)
		if r.Identity.IMEI != "" {
			g.failed = append(g.failed, serial)
		}
	}
	if r.Identity.IMEI != "" {
		g.seen = append(g.seen, serial)
	}
	if r.Identity.IMEI != "" && (fail == nil || fail.step == station.StepVerify || fail.step == station.StepBootstrap) {
		v.PSKIdentity = "urn:imei:" + r.Identity.IMEI
		v.PSKSHA256 = station.HexDigest(id.String()) // a stand-in digest, not derived from any key
	}
	r.Verdict = v
	return r
}

// uuidAt makes a UUID v7 for a run that started at t (uuid.NewV7 would
// stamp it with the time of seeding).
func (g *generator) uuidAt(t time.Time) uuid.UUID {
	var u uuid.UUID
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	r1, r2 := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[8+i] = byte(r2 >> (8 * i))
	}
	u[6], u[7] = 0x70|byte(r1>>8)&0x0f, byte(r1)
	u[8] = 0x80 | u[8]&0x3f
	return u
}

// unit picks the unit of the next run: mostly a new one, sometimes a
// retest of a unit that failed before.
func (g *generator) unit() int {
	if g.rng.Float64() < g.cfg.RetestPct {
		if len(g.failed) > 0 {
			k := g.rng.IntN(len(g.failed))
			s := g.failed[k]
			g.failed = append(g.failed[:k], g.failed[k+1:]...)
			return s
		}
		if len(g.seen) > 0 {
			return g.seen[g.rng.IntN(len(g.seen))]
		}
	}
	g.next++
	return g.next
}

func (g *generator) failure() *failure {
	if g.rng.Float64() >= g.cfg.FailRate {
		return nil
	}
	w := g.rng.IntN(g.weights)
	for i := range failures {
		if w < failures[i].weight {
			return &failures[i]
		}
		w -= failures[i].weight
	}
	return &failures[len(failures)-1]
}

func transcript(f *failure, imei string) []string {
	lines := []string{"*** Booting nRF Connect SDK v2.9.0 ***", "AT", "OK", "AT+CGSN=1", `+CGSN: "` + imei + `"`, "OK",
		"AT+CFUN=4", "OK", `AT%CMNG=0,100,4,"urn:imei:` + imei + `"`, "OK", `AT%CMNG=0,100,3,"<redacted>"`, "OK"}
	return append(lines, "[00:00:41.120,000] <err> lwm2m_rd_client: "+f.detail)
}
