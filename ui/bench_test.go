package ui

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"nrfline/station"
)

// BenchmarkView32Busy is one frame of a full 32-slot fixture on 200×60:
// flashing, running and finished cards, the clock moving every frame.
// Goal: ≤ 2 ms per frame (make bench fails above it).
func BenchmarkView32Busy(b *testing.B) {
	h := newHarness(b, 200, 60, Options{Operator: "OP-0042"})
	busy(h, 32)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.now = t0.Add(time.Duration(i) * time.Second)
		h.m.Update(tickMsg(h.now)) // the clock moves: every card is drawn again
		if v := h.m.View(); len(v.Content) == 0 {
			b.Fatal("empty frame")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}

// watched wraps the model in a real program, counting the device lines
// that reach it.
type watched struct {
	*Model
	lines atomic.Int64
}

func (w *watched) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m, ok := msg.(eventsMsg); ok {
		n := 0
		for _, ev := range m.events {
			if ev.Kind == station.DeviceLine {
				n++
			}
		}
		w.lines.Add(int64(n))
	}
	_, cmd := w.Model.Update(msg)
	return w, cmd
}

// terminal is the program's output: it notes when a verdict's card is
// first written, which is when the operator sees it.
type terminal struct {
	mu      sync.Mutex
	sent    time.Time // zero: no verdict pending
	arrived chan time.Duration
}

func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.sent.IsZero() && bytes.Contains(p, []byte("✔ PASS")) {
		t.arrived <- time.Since(t.sent)
		t.sent = time.Time{}
	}
	return len(p), nil
}

// BenchmarkEventStorm runs the TUI as a program (renderer included) while
// 32 slots send 10,000 device lines per second, and measures each
// verdict's time from its publication to the terminal write that shows it.
// Goal: every verdict within 100 ms (make bench fails above it).
func BenchmarkEventStorm(b *testing.B) {
	const slots, linesPerSec = 32, 10000
	eng := newFakeEngine()
	names := slotNames(slots)
	for i, n := range names {
		eng.bus.Publish(running(i, n, station.StepBootstrap, 0))
	}
	w := &watched{Model: New(context.Background(), eng, Options{StationID: "bench", Operator: "OP-0042", Bell: true})}
	term := &terminal{arrived: make(chan time.Duration, 1)}
	p := tea.NewProgram(w, tea.WithInput(nil), tea.WithOutput(term), tea.WithoutSignals(), tea.WithWindowSize(200, 60))
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	p.Send(tea.WindowSizeMsg{Width: 200, Height: 60})
	defer func() {
		p.Quit()
		<-done
		w.Close()
	}()

	// The storm: a steady 10,000 lines a second, round robin over the slots.
	stop := make(chan struct{})
	var published atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var n int64
		for {
			select {
			case <-stop:
				published.Store(n)
				return
			case now := <-t.C:
				for due := int64(now.Sub(start).Seconds() * linesPerSec); n < due; n++ {
					i := int(n % slots)
					eng.bus.Publish(station.Event{Kind: station.DeviceLine, Slot: names[i], Dir: station.DirLog, Time: now,
						Text: fmt.Sprintf("<inf> lwm2m_rd_client: RD Client started with endpoint 'urn:imei:%s' line %d", imeiOf(i), n)})
				}
			}
		}
	})
	time.Sleep(200 * time.Millisecond) // the storm is on before the first verdict

	lat := make([]time.Duration, 0, b.N)
	begin := time.Now()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		time.Sleep(10 * time.Millisecond)
		slot := i % slots
		run := fmt.Sprintf("storm-%d", i)
		v := &station.Verdict{Run: run, Slot: names[slot], IMEI: imeiOf(slot), Outcome: station.Pass, Started: time.Now(), Ended: time.Now()}
		term.mu.Lock()
		term.sent = time.Now()
		term.mu.Unlock()
		b.StartTimer()
		eng.bus.Publish(station.Event{Kind: station.VerdictReached, Slot: names[slot], Run: run, Verdict: v, Time: time.Now()})
		select {
		case d := <-term.arrived:
			lat = append(lat, d)
		case <-time.After(5 * time.Second):
			b.Fatalf("verdict %d not on screen after 5 s", i)
		}
		b.StopTimer()
		eng.bus.Publish(running(slot, names[slot], station.StepBootstrap, 0))
		b.StartTimer()
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	secs := time.Since(begin).Seconds()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(published.Load())/(secs+0.2), "lines-sent/s")
	b.ReportMetric(float64(w.lines.Load())/(secs+0.2), "lines-drawn/s")
}
