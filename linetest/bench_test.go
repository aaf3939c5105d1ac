package linetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"nrfline/discover"
	"nrfline/sim"
	"nrfline/station"
)

// plugEvents is how many insertions BenchmarkPlugToAttached measures.
const plugEvents = 100

// BenchmarkPlugToAttached measures the discovery's share of "insertion →
// first step started": from plugging a unit into the virtual line (its
// J-Link appears in the line's sysfs tree and the uevents go out) to the
// usb discovery's Attached event, over 100 insertions, with the sim in the
// same process beside it. It reports p50, p95 and max in ms. Each
// insertion follows an unplug whose Detached was seen; the debounce is cut
// to 50 ms only to keep the cycle short (attaches are never debounced).
//
//	go test ./linetest -run '^$' -bench PlugToAttached -benchtime 1x
func BenchmarkPlugToAttached(b *testing.B) {
	l, err := sim.Start(b.Context(), sim.Options{Units: 4, Dir: b.TempDir(), Speed: lineSpeed, ToolExe: stationBin})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cfg, err := station.LoadConfig(l.ConfigPath())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	ch, err := discover.NewUSB(cfg.Line.SysfsRoot, cfg.Line.UeventSocket, discover.Options{Debounce: 50 * time.Millisecond}).Watch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for range 4 {
		waitEvent(b, ch, true)
	}
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		for i := range plugEvents {
			unit := i%4 + 1
			if _, err := l.Unplug(unit); err != nil {
				b.Fatal(err)
			}
			waitEvent(b, ch, false)
			start := time.Now()
			if _, err := l.Plug(unit); err != nil {
				b.Fatal(err)
			}
			waitEvent(b, ch, true)
			took = append(took, time.Since(start))
		}
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*95/100]), "p95-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(0, "ns/op")
}

func waitEvent(b *testing.B, ch <-chan station.DeviceEvent, attached bool) {
	b.Helper()
	select {
	case ev, ok := <-ch:
		if !ok || ev.Attached != attached {
			b.Fatalf("device event %+v (open %v), want attached=%v", ev, ok, attached)
		}
	case <-time.After(5 * time.Second):
		b.Fatalf("no device event (attached=%v) within 5 s", attached)
	}
}

// BenchmarkPlugToFirstStep measures "insertion → first step started" for
// the whole station: from plugging a unit into the virtual line to the
// engine's step_started event of its run, through the usb discovery and
// the line's actor, over 100 insertions (the target: p95 ≤ 300 ms).
// The engine runs in this process with the real parts; each unit is pulled
// again as soon as its run started (the run ends UNIT_UNPLUGGED).
//
//	go test ./linetest -run '^$' -bench PlugToFirstStep -benchtime 1x
func BenchmarkPlugToFirstStep(b *testing.B) {
	l := startLine(b, lineSpec{units: 4})
	ll := startLive(b, l, func(c *station.Config) { c.Line.Autostart = true })
	slots := []string{"A1", "A2", "A3", "A4"}
	for _, s := range slots {
		ll.waitFor(s, station.SlotDone)
	}
	sub := ll.e.Subscribe(1<<16, station.Lossless)
	defer sub.Close()
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		for i := range plugEvents {
			unit, slot := i%4+1, slots[i%4]
			if _, err := l.Unplug(unit); err != nil {
				b.Fatal(err)
			}
			ll.waitFor(slot, station.SlotEmpty)
			start := time.Now()
			if _, err := l.Plug(unit); err != nil {
				b.Fatal(err)
			}
			for ev := range sub.C {
				if ev.Kind == station.StepStarted && ev.Slot == slot {
					took = append(took, time.Since(start))
					break
				}
			}
		}
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*95/100]), "p95-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(0, "ns/op")
}
