package station

import (
	"context"
	"log/slog"
	"time"
)

// Two discoveries the engine makes for itself when it is given none: every
// configured slot holds a unit (tests, a bench without USB discovery), or a
// probe listing polled as in the days before hot-plug ([line] discovery =
// "tool" wires its own, with the flash tool's listing).

// staticDiscovery reports one device per slot, present for good.
type staticDiscovery []Slot

func (s staticDiscovery) Watch(ctx context.Context) (<-chan DeviceEvent, error) {
	ch := make(chan DeviceEvent, len(s))
	for _, slot := range s {
		ch <- DeviceEvent{Attached: true, Device: Device{Probe: slot.Probe, USB: slot.USB, Ports: nonEmpty(slot.Port)}}
	}
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// removalAfter is how long a probe must be missing from every listing
// before it counts as removed. A probe listing can miss a probe that is
// there (USB re-enumeration after a reset, a J-Link busy with another
// process); taken at its word, it would provision the same unit again.
const removalAfter = 3 * time.Second

// pollDiscovery turns a probe listing into device events.
type pollDiscovery struct {
	list  func(context.Context) ([]string, error)
	every time.Duration
	gone  time.Duration
	clock Clock
	log   *slog.Logger
}

func (p *pollDiscovery) Watch(ctx context.Context) (<-chan DeviceEvent, error) {
	first, err := p.probes(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan DeviceEvent, len(first)+16)
	present := map[string]bool{}
	for probe := range first {
		present[probe] = true
		ch <- DeviceEvent{Attached: true, Device: Device{Probe: probe}}
	}
	go p.poll(ctx, ch, present)
	return ch, nil
}

func (p *pollDiscovery) poll(ctx context.Context, ch chan<- DeviceEvent, present map[string]bool) {
	defer close(ch)
	missing := map[string]time.Time{}
	send := func(ev DeviceEvent) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(p.every):
		}
		seen, err := p.probes(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("probe listing failed", "err", err)
			}
			continue
		}
		now := p.clock.Now()
		for probe := range seen {
			delete(missing, probe)
			if !present[probe] {
				present[probe] = true
				if !send(DeviceEvent{Attached: true, Device: Device{Probe: probe}}) {
					return
				}
			}
		}
		for probe := range present {
			if seen[probe] {
				continue
			}
			if missing[probe].IsZero() {
				missing[probe] = now
			}
			if now.Sub(missing[probe]) >= p.gone {
				delete(present, probe)
				delete(missing, probe)
				if !send(DeviceEvent{Device: Device{Probe: probe}}) {
					return
				}
			}
		}
	}
}

func (p *pollDiscovery) probes(ctx context.Context) (map[string]bool, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := p.list(lctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, probe := range list {
		seen[NormalizeSerial(probe)] = true
	}
	return seen, nil
}
