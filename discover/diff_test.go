package discover

import (
	"reflect"
	"testing"
	"time"

	"nrfline/station"
)

func dk(probe, usb string, ports ...string) station.Device {
	d := station.Device{Probe: probe, USB: usb, Board: "nRF9151 DK", Ports: ports}
	if len(ports) > 0 {
		d.Console = ports[0]
	}
	return d
}

func attached(d station.Device) station.DeviceEvent {
	return station.DeviceEvent{Attached: true, Device: d}
}
func detached(d station.Device) station.DeviceEvent { return station.DeviceEvent{Device: d} }

func TestDiff(t *testing.T) {
	a := dk("1051200001", "1-1.1", "/dev/ttyACM0")
	b := dk("1051200002", "1-1.2", "/dev/ttyACM1")
	bMoved := dk("1051200002", "1-1.5", "/dev/ttyACM1")
	aRenum := dk("1051200001", "1-1.1", "/dev/ttyACM7")
	aMore := dk("1051200001", "1-1.1", "/dev/ttyACM0", "/dev/ttyACM2")
	aReplaced := dk("1051200009", "1-1.1", "/dev/ttyACM0")
	tool := station.Device{Probe: "1051200003"}
	tests := []struct {
		name     string
		old, cur []station.Device
		want     []station.DeviceEvent
	}{
		{"nothing changed", []station.Device{a, b}, []station.Device{b, a}, nil},
		{"first listing", nil, []station.Device{a, b}, []station.DeviceEvent{attached(a), attached(b)}},
		{"one plugged in", []station.Device{a}, []station.Device{a, b}, []station.DeviceEvent{attached(b)}},
		{"one unplugged", []station.Device{a, b}, []station.Device{a}, []station.DeviceEvent{detached(b)}},
		{"moved to another USB port", []station.Device{a, b}, []station.Device{a, bMoved}, []station.DeviceEvent{detached(b), attached(bMoved)}},
		{"re-enumerated with a new tty: an update", []station.Device{a}, []station.Device{aRenum}, []station.DeviceEvent{attached(aRenum)}},
		{"second interface came up: an update", []station.Device{a}, []station.Device{aMore}, []station.DeviceEvent{attached(aMore)}},
		{"another unit in the same place", []station.Device{a}, []station.Device{aReplaced}, []station.DeviceEvent{detached(a), attached(aReplaced)}},
		{"all gone", []station.Device{a, b}, nil, []station.DeviceEvent{detached(a), detached(b)}},
		{"tool listing: probes only", []station.Device{tool}, []station.Device{tool, a}, []station.DeviceEvent{attached(a)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diff(tt.old, tt.cur); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diff =\n %v\nwant\n %v", got, tt.want)
			}
		})
	}
}

// TestTrackerDebounce walks listings through time: what a subscriber sees
// when probes re-enumerate, leave, come back and are replaced.
func TestTrackerDebounce(t *testing.T) {
	const debounce = 400 * time.Millisecond
	a := dk("1051200001", "1-1.1", "/dev/ttyACM0")
	aRenum := dk("1051200001", "1-1.1", "/dev/ttyACM3")
	b := dk("1051200002", "1-1.2", "/dev/ttyACM1")
	a2 := dk("1051200009", "1-1.1", "/dev/ttyACM4") // a DK-style replacement: new probe, same place
	type step struct {
		at      time.Duration
		listing []station.Device // nil with expire: a timer tick instead of a listing
		expire  bool
		want    []station.DeviceEvent
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a reset blip is no event", []step{
			{0, []station.Device{a, b}, false, []station.DeviceEvent{attached(a), attached(b)}},
			{100 * time.Millisecond, []station.Device{b}, false, nil},
			{180 * time.Millisecond, []station.Device{a, b}, false, nil},
			{600 * time.Millisecond, nil, true, nil},
		}},
		{"a blip with new ttys is an update, no detach", []step{
			{0, []station.Device{a}, false, []station.DeviceEvent{attached(a)}},
			{50 * time.Millisecond, nil, false, nil},
			{120 * time.Millisecond, []station.Device{aRenum}, false, []station.DeviceEvent{attached(aRenum)}},
			{1 * time.Second, nil, true, nil},
		}},
		{"a removal is reported after the debounce, not before", []step{
			{0, []station.Device{a, b}, false, []station.DeviceEvent{attached(a), attached(b)}},
			{100 * time.Millisecond, []station.Device{a}, false, nil},
			{499 * time.Millisecond, nil, true, nil},
			{500 * time.Millisecond, nil, true, []station.DeviceEvent{detached(b)}},
			{2 * time.Second, []station.Device{a}, false, nil},
		}},
		{"the debounce counts from the first listing without it", []step{
			{0, []station.Device{b}, false, []station.DeviceEvent{attached(b)}},
			{100 * time.Millisecond, nil, false, nil},
			{300 * time.Millisecond, nil, false, nil},
			{500 * time.Millisecond, nil, true, []station.DeviceEvent{detached(b)}},
		}},
		{"a replacement in the same place ends the old one at once", []step{
			{0, []station.Device{a, b}, false, []station.DeviceEvent{attached(a), attached(b)}},
			{100 * time.Millisecond, []station.Device{b}, false, nil},
			{200 * time.Millisecond, []station.Device{a2, b}, false, []station.DeviceEvent{detached(a), attached(a2)}},
			{1 * time.Second, nil, true, nil},
		}},
		{"back after the debounce is a new attach", []step{
			{0, []station.Device{a}, false, []station.DeviceEvent{attached(a)}},
			{10 * time.Millisecond, nil, false, nil},
			{410 * time.Millisecond, nil, true, []station.DeviceEvent{detached(a)}},
			{500 * time.Millisecond, []station.Device{a}, false, []station.DeviceEvent{attached(a)}},
		}},
	}
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(debounce)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				var got []station.DeviceEvent
				if s.expire {
					got = tr.expire(now)
				} else {
					got = tr.update(now, s.listing)
				}
				if !reflect.DeepEqual(got, s.want) {
					t.Fatalf("step %d at %v: got %v, want %v", i, s.at, got, s.want)
				}
			}
			if at, ok := tr.next(); ok {
				t.Errorf("a detach is still pending for %v", at.Sub(t0))
			}
		})
	}
}
