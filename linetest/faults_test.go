package linetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"nrfline/station"
)

// faultCase is what a fault on one unit must end as.
type faultCase struct {
	fault   string
	outcome station.Outcome
	codes   []station.Code
	step    station.StepName
	// fired, if set, shows from the slot's events that the fault really
	// happened: a PASS alone would also come from a fault never injected.
	// It returns what is missing, or "".
	fired func(slotEvents) string
}

// slotEvents are the events of one slot in one batch, with its config.
type slotEvents struct {
	events []station.Event
	cfg    *station.Config
}

// noted: the station told the operator about the fault in a note.
func noted(text string) func(slotEvents) string {
	return func(se slotEvents) string {
		for _, ev := range se.events {
			if ev.Kind == station.Note && strings.Contains(ev.Text, text) {
				return ""
			}
		}
		return fmt.Sprintf("no note containing %q", text)
	}
}

func (se slotEvents) step(name station.StepName) (station.StepResult, bool) {
	for _, ev := range se.events {
		if ev.Kind == station.StepFinished && ev.Step == name {
			return *ev.Result, true
		}
	}
	return station.StepResult{}, false
}

// lasted: the step took between min and max (what the config gives).
func lasted(name station.StepName, bounds func(*station.Config) (min, max time.Duration)) func(slotEvents) string {
	return func(se slotEvents) string {
		res, ok := se.step(name)
		if !ok {
			return fmt.Sprintf("no %s step", name)
		}
		lo, hi := bounds(se.cfg)
		if d := res.Duration(); d < lo || d > hi {
			return fmt.Sprintf("%s took %s, want %s to %s", name, d, lo, hi)
		}
		return ""
	}
}

// Every fault of the virtual line, one per unit, on a line provisioned in
// one batch: the verdict, its code and its step are what an operator
// would see.
func TestEveryFaultEndsWithItsCode(t *testing.T) {
	sectorErase := func(cfg string) string { return strings.Replace(cfg, "erase = 'chip'", "erase = 'sector'", 1) }
	groups := []struct {
		edit  func(string) string
		cases []faultCase
	}{
		{nil, []faultCase{
			{"protected", station.Pass, nil, "", noted("chip is protected: recovering")},
			{"jlink-transient", station.Pass, nil, "", noted("transient J-Link error, retrying once")},
			{"verify-error", station.Fail, []station.Code{station.FlashVerify}, station.StepFlash, nil},
			// gives up once modem.ready_timeout is over, not at the step's budget
			{"silent", station.Fail, []station.Code{station.ModemNotReady}, station.StepIdentify,
				lasted(station.StepIdentify, func(c *station.Config) (time.Duration, time.Duration) {
					return c.Modem.ReadyTimeout.Duration, c.Modem.ReadyTimeout.Duration + 2*time.Second
				})},
			{"garbage", station.Fail, []station.Code{station.ModemGarbled}, station.StepIdentify, nil},
			{"cme-515", station.Fail, []station.Code{station.CredMemoryFull}, station.StepInject, nil},
		}},
		// Sector erase keeps the firmware's LwM2M settings, so the stale
		// server credentials would bite; clear_server_tag = true clears them.
		{sectorErase, []faultCase{
			{"stale-server-creds", station.Pass, nil, "", nil},
			{"lte-never", station.Fail, []station.Code{station.LTENoAttach}, station.StepBootstrap, nil},
			{"reset-during-bootstrap", station.Fail, []station.Code{station.UnexpectedReboot}, station.StepBootstrap, nil},
			{"bootstrap-reject", station.Fail, []station.Code{station.BootstrapRejected}, station.StepBootstrap, nil},
			{"portal-500", station.Fail, []station.Code{station.PortalServerError}, station.StepRegister, nil},
			// 5 s simulated per request, at least two requests
			{"portal-slow", station.Pass, nil, "", lasted(station.StepRegister, func(*station.Config) (time.Duration, time.Duration) {
				return 2 * 5 * time.Second / lineSpeed, time.Minute
			})},
			{"portal-timeout", station.Fail, []station.Code{station.PortalUnreachable}, station.StepRegister, nil},
		}},
		{nil, []faultCase{
			{"unplug@flash", station.Fail, []station.Code{station.UnitUnplugged}, station.StepFlash, nil},
			{"unplug@identify", station.Fail, []station.Code{station.UnitUnplugged}, station.StepIdentify, nil},
			{"unplug@inject", station.Fail, []station.Code{station.UnitUnplugged}, station.StepInject, nil},
			// the portal answers (the unit vanished, not the server); the
			// reset that triggers the bootstrap finds neither probe nor port
			{"unplug@register", station.Fail, []station.Code{station.UnitUnplugged}, station.StepBootstrap, nil},
			{"unplug@bootstrap", station.Fail, []station.Code{station.UnitUnplugged}, station.StepBootstrap, nil},
		}},
	}
	for gi, g := range groups {
		cases := g.cases
		t.Run(fmt.Sprint("group", gi+1), func(t *testing.T) {
			var spec []string
			for i, c := range cases {
				spec = append(spec, fmt.Sprintf("%s:%d", c.fault, i+1))
			}
			l := startLine(t, lineSpec{units: len(cases), faults: strings.Join(spec, ","), edit: g.edit})
			cfg, err := station.LoadConfig(l.config)
			if err != nil {
				t.Fatal(err)
			}
			res := l.batch(t)
			if res.exit != 1 && slices.ContainsFunc(cases, func(c faultCase) bool { return c.outcome != station.Pass }) {
				t.Errorf("exit %d, want 1 (a unit failed)", res.exit)
			}
			for i, c := range cases {
				slot := fmt.Sprintf("A%d", i+1)
				v, ok := res.verdicts[slot]
				if !ok {
					t.Errorf("%s (%s): no verdict\n%s", slot, c.fault, res.explain(t, slot))
					continue
				}
				codeOK := len(c.codes) == 0 && v.Code == "" || slices.Contains(c.codes, v.Code)
				stepOK := c.step == "" || v.Step == c.step
				if v.Outcome != c.outcome || !codeOK || !stepOK {
					t.Errorf("%s (%s): got %s %s at %q, want %s %v at %q\n%s", slot, c.fault, v.Outcome, v.Code, v.Step,
						c.outcome, c.codes, c.step, res.explain(t, slot))
				}
				if c.fired == nil {
					continue
				}
				if miss := c.fired(slotEvents{events: res.of(slot), cfg: cfg}); miss != "" {
					t.Errorf("%s (%s): the fault did not show: %s\n%s", slot, c.fault, miss, res.explain(t, slot))
				}
			}
			blobs := filesUnder(t, l.dir, ".db", ".db-wal")
			blobs["stdout"], blobs["stderr"] = res.stdout, res.stderr
			if s := l.secrets(t); len(s) > 0 {
				scanForSecrets(t, s, blobs)
			}
		})
	}
}

// With clear_server_tag = false the stale server credentials stay, the
// unit registers straight away, and the line rule calls it out. The flash
// uses sector erase: a chip erase also wipes the firmware's stored LwM2M
// settings, and without them the firmware bootstraps whatever the server
// tag holds (lwm2m-bootstrap.md §1).
func TestStaleServerCredentialsWithoutClearing(t *testing.T) {
	l := startLine(t, lineSpec{units: 1, faults: "stale-server-creds", edit: func(cfg string) string {
		cfg = strings.Replace(cfg, "erase = 'chip'", "erase = 'sector'", 1)
		return strings.Replace(cfg, "clear_server_tag = true", "clear_server_tag = false", 1)
	}})
	res := l.batch(t)
	v := res.verdicts["A1"]
	if res.exit != 1 || v.Outcome != station.Fail || v.Code != station.RegisteredWithoutBootstrap || v.Step != station.StepBootstrap {
		t.Fatalf("exit %d, verdict %s %s at %s\n%s", res.exit, v.Outcome, v.Code, v.Step, res.explain(t, "A1"))
	}
}

// The probe (the station bootstraps itself with the unit's credentials) and
// verify_reboot (a second reset registers without bootstrap) both pass on a
// healthy unit, and the LwM2M server saw the unit register.
func TestProbeAndVerifyReboot(t *testing.T) {
	l := startLine(t, lineSpec{units: 2, edit: func(cfg string) string {
		cfg = strings.Replace(cfg, "probe = false", "probe = true", 1)
		return strings.Replace(cfg, "verify_reboot = false", "verify_reboot = true", 1)
	}})
	res := l.batch(t)
	for _, slot := range []string{"A1", "A2"} {
		v := res.verdicts[slot]
		if v.Outcome != station.Pass {
			t.Fatalf("%s: %s %s at %s\n%s", slot, v.Outcome, v.Code, v.Step, res.explain(t, slot))
		}
		steps := map[station.StepName]bool{}
		for _, ev := range res.events {
			if ev.Slot == slot && ev.Kind == station.StepFinished {
				steps[ev.Step] = true
			}
		}
		if !steps[station.StepProbe] || !steps[station.StepVerify] {
			t.Errorf("%s: probe/verify steps missing: %v", slot, steps)
		}
	}
}
