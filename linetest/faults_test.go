package linetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"nrfline/station"
)

// faultCase is what a fault on one unit must end as.
type faultCase struct {
	fault   string
	outcome station.Outcome
	codes   []station.Code
	step    station.StepName
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
			{"protected", station.Pass, nil, ""},
			{"jlink-transient", station.Pass, nil, ""},
			{"verify-error", station.Fail, []station.Code{station.FlashVerify}, station.StepFlash},
			{"silent", station.Fail, []station.Code{station.ModemNotReady}, station.StepIdentify},
			{"garbage", station.Fail, []station.Code{station.ModemGarbled}, station.StepIdentify},
			{"cme-515", station.Fail, []station.Code{station.CredMemoryFull}, station.StepInject},
		}},
		// Sector erase keeps the firmware's LwM2M settings, so the stale
		// server credentials would bite; clear_server_tag = true clears them.
		{sectorErase, []faultCase{
			{"stale-server-creds", station.Pass, nil, ""},
			{"lte-never", station.Fail, []station.Code{station.LTENoAttach}, station.StepBootstrap},
			{"reset-during-bootstrap", station.Fail, []station.Code{station.UnexpectedReboot}, station.StepBootstrap},
			{"bootstrap-reject", station.Fail, []station.Code{station.BootstrapRejected}, station.StepBootstrap},
			{"portal-500", station.Fail, []station.Code{station.PortalServerError}, station.StepRegister},
			{"portal-slow", station.Pass, nil, ""},
			{"portal-timeout", station.Fail, []station.Code{station.PortalUnreachable}, station.StepRegister},
		}},
		{nil, []faultCase{
			{"unplug@flash", station.Fail, []station.Code{station.UnitUnplugged}, station.StepFlash},
			{"unplug@identify", station.Fail, []station.Code{station.UnitUnplugged}, station.StepIdentify},
			{"unplug@inject", station.Fail, []station.Code{station.UnitUnplugged}, station.StepInject},
			{"unplug@register", station.Fail, []station.Code{station.UnitUnplugged}, ""},
			{"unplug@bootstrap", station.Fail, []station.Code{station.UnitUnplugged}, station.StepBootstrap},
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
