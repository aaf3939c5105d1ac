package station

import "context"

// The discovery the engine makes for itself when it is given none: every
// configured slot holds a unit, for good (tests; the real ones, USB
// hot-plug and the flash tool's listing, are package discover's).

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
