package linetest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"nrfline/station"
)

// lineEvents runs `station batch --json` in continuous mode on l and
// streams its events, each with the time it was read.
type lineEvents struct {
	c   chan timedEvent
	cmd *exec.Cmd
}

type timedEvent struct {
	at time.Time
	station.Event
}

func startContinuous(t *testing.T, l *virtualLine) *lineEvents {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	cmd := exec.CommandContext(ctx, stationBin, "batch", "--config", l.config, "--json")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	le := &lineEvents{c: make(chan timedEvent, 4096), cmd: cmd}
	go func() {
		defer close(le.c)
		dec := json.NewDecoder(out)
		for {
			var ev station.Event
			if err := dec.Decode(&ev); err != nil {
				return
			}
			le.c <- timedEvent{time.Now(), ev}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("station stderr:\n%s", stderr.String())
		}
	})
	return le
}

// until reads events until match says done, failing after within.
func (le *lineEvents) until(t *testing.T, within time.Duration, what string, match func(timedEvent) bool) timedEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-le.c:
			if !ok {
				t.Fatalf("station output ended waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, within)
		}
	}
}

func slotState(slot string, state station.SlotState) func(timedEvent) bool {
	return func(ev timedEvent) bool {
		return ev.Kind == station.SlotChanged && ev.Slot == slot && ev.Status != nil && ev.Status.State == state
	}
}

// TestContinuousLineFollowsHotPlug: the station in continuous mode on a
// virtual line, its units found by the usb discovery. A unit pulled out
// mid-flash ends UNIT_UNPLUGGED while the others pass; a finished unit
// pulled out leaves its slot EMPTY within 1 s; new units put in the same
// places (sim ctl replace) are provisioned and pass; every insertion is
// provisioned exactly once.
func TestContinuousLineFollowsHotPlug(t *testing.T) {
	l := startLine(t, lineSpec{units: 3, speed: 2})
	le := startContinuous(t, l)
	runs := map[string]int{}
	verdicts := map[string][]station.Verdict{}
	record := func(ev timedEvent) {
		switch ev.Kind {
		case station.RunStarted:
			runs[ev.Slot]++
		case station.VerdictReached:
			verdicts[ev.Slot] = append(verdicts[ev.Slot], *ev.Verdict)
		}
	}
	le.until(t, time.Minute, "A1 programming", func(ev timedEvent) bool {
		record(ev)
		return ev.Kind == station.StepProgress && ev.Slot == "A1" && ev.Step == station.StepFlash && ev.Percent >= 20
	})
	if _, err := l.Unplug(1); err != nil {
		t.Fatal(err)
	}
	pulled := time.Now()
	var a1Verdict time.Time
	a1Empty := false
	le.until(t, 2*time.Minute, "three verdicts and A1 empty", func(ev timedEvent) bool {
		record(ev)
		if ev.Kind == station.VerdictReached && ev.Slot == "A1" {
			a1Verdict = ev.at
		}
		if slotState("A1", station.SlotEmpty)(ev) && !a1Verdict.IsZero() {
			a1Empty = true
			from := pulled
			if a1Verdict.After(from) {
				from = a1Verdict
			}
			if late := ev.at.Sub(from); late > time.Second {
				t.Errorf("A1 EMPTY %v after its unit was pulled and its run ended", late)
			}
		}
		return len(verdicts) == 3 && a1Empty
	})
	if v := verdicts["A1"][0]; v.Outcome != station.Fail || v.Code != station.UnitUnplugged {
		t.Errorf("A1 pulled mid-flash: %s %s at %s", v.Outcome, v.Code, v.Step)
	}
	for _, s := range []string{"A2", "A3"} {
		if v := verdicts[s][0]; v.Outcome != station.Pass {
			t.Errorf("%s: %s %s at %s: %s", s, v.Outcome, v.Code, v.Step, v.Detail)
		}
	}

	if _, err := l.Unplug(2); err != nil {
		t.Fatal(err)
	}
	pulled = time.Now()
	ev := le.until(t, 5*time.Second, "A2 EMPTY", func(ev timedEvent) bool { record(ev); return slotState("A2", station.SlotEmpty)(ev) })
	if late := ev.at.Sub(pulled); late > time.Second {
		t.Errorf("A2 (finished) EMPTY %v after its unit was pulled", late)
	}

	oldIMEI := verdicts["A2"][0].IMEI
	for _, n := range []string{"1", "2"} {
		if out, err := exec.Command(stationBin, "sim", "ctl", "--dir", l.dir, "replace", n).CombinedOutput(); err != nil {
			t.Fatalf("sim ctl replace %s: %v %s", n, err, out)
		}
	}
	le.until(t, 2*time.Minute, "the replacements' verdicts", func(ev timedEvent) bool {
		record(ev)
		return len(verdicts["A1"]) == 2 && len(verdicts["A2"]) == 2
	})
	for _, s := range []string{"A1", "A2"} {
		if v := verdicts[s][1]; v.Outcome != station.Pass {
			t.Errorf("replacement in %s: %s %s at %s: %s", s, v.Outcome, v.Code, v.Step, v.Detail)
		}
	}
	if v := verdicts["A2"][1]; v.IMEI == oldIMEI || v.IMEI == "" {
		t.Errorf("A2's replacement has IMEI %q (old %s)", v.IMEI, oldIMEI)
	}
	// Nothing else is plugged in: no run may start again.
	quietUntil := time.After(1500 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-le.c:
			record(ev)
		case <-quietUntil:
			done = true
		}
	}
	if want := map[string]int{"A1": 2, "A2": 2, "A3": 1}; runs["A1"] != want["A1"] || runs["A2"] != want["A2"] || runs["A3"] != want["A3"] {
		t.Errorf("runs per slot %v, want %v: every insertion exactly once", runs, want)
	}
}

// TestSixteenUnitsHotPlug is the live line's acceptance scenario: 16 units
// in continuous mode; 2 pulled out mid-flash end UNIT_UNPLUGGED while the
// 14 others pass; both slots show EMPTY within 1 s of their run's end; new
// units put in their places (sim ctl replace) pass with new IMEIs; every
// insertion is provisioned exactly once.
func TestSixteenUnitsHotPlug(t *testing.T) {
	const units = 16
	l := startLine(t, lineSpec{units: units, speed: 2})
	le := startContinuous(t, l)
	runs := map[string]int{}
	verdicts := map[string][]station.Verdict{}
	emptyAt := map[string]time.Time{}
	record := func(ev timedEvent) {
		switch {
		case ev.Kind == station.RunStarted:
			runs[ev.Slot]++
		case ev.Kind == station.VerdictReached:
			verdicts[ev.Slot] = append(verdicts[ev.Slot], *ev.Verdict)
		case slotState(ev.Slot, station.SlotEmpty)(ev):
			emptyAt[ev.Slot] = ev.at
		}
	}
	pulled := map[string]bool{"A5": false, "A12": false}
	le.until(t, time.Minute, "A5 and A12 programming", func(ev timedEvent) bool {
		record(ev)
		if ev.Kind == station.StepProgress && ev.Step == station.StepFlash && ev.Percent >= 20 {
			if done, ok := pulled[ev.Slot]; ok && !done {
				n := strings.TrimPrefix(ev.Slot, "A")
				if out, err := exec.Command(stationBin, "sim", "ctl", "--dir", l.dir, "unplug", n).CombinedOutput(); err != nil {
					t.Fatalf("sim ctl unplug %s: %v %s", n, err, out)
				}
				pulled[ev.Slot] = true
			}
		}
		return pulled["A5"] && pulled["A12"]
	})
	le.until(t, 2*time.Minute, "16 verdicts, A5 and A12 empty", func(ev timedEvent) bool {
		record(ev)
		return len(verdicts) == units && !emptyAt["A5"].IsZero() && !emptyAt["A12"].IsZero()
	})
	oldIMEI := map[string]string{}
	for slot, vs := range verdicts {
		v := vs[0]
		oldIMEI[slot] = v.IMEI
		switch _, wasPulled := pulled[slot]; {
		case wasPulled && (v.Outcome != station.Fail || v.Code != station.UnitUnplugged):
			t.Errorf("%s pulled mid-flash: %s %s at %s", slot, v.Outcome, v.Code, v.Step)
		case wasPulled:
			if late := emptyAt[slot].Sub(v.Ended); late > time.Second {
				t.Errorf("%s EMPTY %v after its run ended", slot, late)
			}
		case v.Outcome != station.Pass:
			t.Errorf("%s: %s %s at %s: %s", slot, v.Outcome, v.Code, v.Step, v.Detail)
		}
	}
	for _, n := range []string{"5", "12"} {
		if out, err := exec.Command(stationBin, "sim", "ctl", "--dir", l.dir, "replace", n).CombinedOutput(); err != nil {
			t.Fatalf("sim ctl replace %s: %v %s", n, err, out)
		}
	}
	le.until(t, 2*time.Minute, "the replacements' verdicts", func(ev timedEvent) bool {
		record(ev)
		return len(verdicts["A5"]) == 2 && len(verdicts["A12"]) == 2
	})
	for _, s := range []string{"A5", "A12"} {
		if v := verdicts[s][1]; v.Outcome != station.Pass || v.IMEI == "" || v.IMEI == oldIMEI[s] {
			t.Errorf("replacement in %s: %s %s IMEI %s (old %s)", s, v.Outcome, v.Code, v.IMEI, oldIMEI[s])
		}
	}
	quiet := time.After(1500 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-le.c:
			record(ev)
		case <-quiet:
			done = true
		}
	}
	for i := 1; i <= units; i++ {
		slot := "A" + strconv.Itoa(i)
		want := 1
		if _, ok := pulled[slot]; ok {
			want = 2
		}
		if runs[slot] != want {
			t.Errorf("%s ran %d times, want %d: every insertion exactly once", slot, runs[slot], want)
		}
	}
}
