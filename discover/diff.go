package discover

import (
	"maps"
	"slices"
	"time"

	"nrfline/station"
)

// key identifies a device across listings: its probe at its USB location;
// the location alone for a probe without serial; its first port only when
// nothing else is known (the tool listing knows probes only).
func key(d station.Device) string {
	switch {
	case d.Probe != "":
		return "probe:" + d.Probe + "@" + d.USB
	case d.USB != "":
		return "usb:" + d.USB
	case len(d.Ports) > 0:
		return "port:" + d.Ports[0]
	default:
		return ""
	}
}

// diff compares two complete listings: every device of old that cur lacks
// is Detached (in old's order), then every device of cur that old lacks, or
// that old has with other ports or console (it re-enumerated, or more of
// its interfaces came up), is Attached (in cur's order). An Attached for a
// device already reported is therefore an update of its ports.
func diff(old, cur []station.Device) []station.DeviceEvent {
	was := make(map[string]station.Device, len(old))
	for _, d := range old {
		was[key(d)] = d
	}
	is := make(map[string]bool, len(cur))
	for _, d := range cur {
		is[key(d)] = true
	}
	var out []station.DeviceEvent
	for _, d := range old {
		if !is[key(d)] {
			out = append(out, station.DeviceEvent{Device: d})
		}
	}
	for _, d := range cur {
		if o, ok := was[key(d)]; !ok || !sameDevice(o, d) {
			out = append(out, station.DeviceEvent{Attached: true, Device: d})
		}
	}
	return out
}

func sameDevice(a, b station.Device) bool {
	return a.Board == b.Board && a.Console == b.Console && slices.Equal(a.Ports, b.Ports)
}

// tracker turns listings into the events a subscriber sees, debouncing
// detaches: a device that left is reported Detached only once it stayed
// away for the debounce time, so a J-Link that re-enumerates during its own
// reset or flash produces no event at all. Where a different device shows
// up at the USB location of one waiting to be reported gone, that one is
// reported Detached at once, before the newcomer's Attached: one USB port
// holds one device. It is pure: time comes in as arguments.
type tracker struct {
	debounce time.Duration
	shown    map[string]station.Device // what the subscriber believes present
	leaving  map[string]time.Time      // shown devices missing from the listing: when their detach is due
}

func newTracker(debounce time.Duration) *tracker {
	return &tracker{debounce: debounce, shown: map[string]station.Device{}, leaving: map[string]time.Time{}}
}

// update takes a complete listing made at now and returns the events due.
func (t *tracker) update(now time.Time, cur []station.Device) []station.DeviceEvent {
	for _, d := range cur {
		delete(t.leaving, key(d)) // back (or never gone)
	}
	var out []station.DeviceEvent
	for _, ev := range diff(t.shownList(), cur) {
		k := key(ev.Device)
		if !ev.Attached {
			if _, ok := t.leaving[k]; !ok {
				t.leaving[k] = now.Add(t.debounce)
			}
			continue
		}
		if _, known := t.shown[k]; !known {
			out = append(out, t.vacate(ev.Device.USB)...)
		}
		t.shown[k] = ev.Device
		out = append(out, ev)
	}
	return out
}

// vacate reports gone at once every leaving device at USB location usb.
func (t *tracker) vacate(usb string) []station.DeviceEvent {
	if usb == "" {
		return nil
	}
	var out []station.DeviceEvent
	for _, k := range slices.Sorted(maps.Keys(t.leaving)) {
		if d := t.shown[k]; d.USB == usb {
			out = append(out, t.drop(k))
		}
	}
	return out
}

// expire returns the detaches that are due at now.
func (t *tracker) expire(now time.Time) []station.DeviceEvent {
	var out []station.DeviceEvent
	for _, k := range slices.Sorted(maps.Keys(t.leaving)) {
		if !now.Before(t.leaving[k]) {
			out = append(out, t.drop(k))
		}
	}
	return out
}

func (t *tracker) drop(k string) station.DeviceEvent {
	d := t.shown[k]
	delete(t.shown, k)
	delete(t.leaving, k)
	return station.DeviceEvent{Device: d}
}

// next returns when the earliest pending detach is due.
func (t *tracker) next() (time.Time, bool) {
	var first time.Time
	for _, at := range t.leaving {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// shownList is the shown devices in key order.
func (t *tracker) shownList() []station.Device {
	out := make([]station.Device, 0, len(t.shown))
	for _, k := range slices.Sorted(maps.Keys(t.shown)) {
		out = append(out, t.shown[k])
	}
	return out
}
