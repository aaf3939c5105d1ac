package linetest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"nrfline/discover"
	"nrfline/station"
)

// watchLine follows the virtual line's units through the usb discovery,
// configured from the station.toml the line wrote: the code a station on
// a real fixture runs, on the line's sysfs tree and uevent socket.
func watchLine(t *testing.T, l *virtualLine) (<-chan station.DeviceEvent, *station.Config) {
	t.Helper()
	cfg, err := station.LoadConfig(l.config)
	if err != nil {
		t.Fatal(err)
	}
	d, err := discover.FromConfig(cfg.Line, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := d.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	return ch, cfg
}

func nextEvent(t *testing.T, ch <-chan station.DeviceEvent, within time.Duration) (station.DeviceEvent, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("discovery ended")
		}
		return ev, time.Since(start)
	case <-time.After(within):
		t.Fatalf("no device event within %v", within)
	}
	return station.DeviceEvent{}, 0
}

func noEvent(t *testing.T, ch <-chan station.DeviceEvent, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected device event %+v", ev)
	case <-time.After(d):
	}
}

// TestHotPlugThroughUSBDiscovery: the virtual line's units appear to the
// usb discovery as J-Links at their USB locations; unplug, plug and
// replace show as the right DeviceEvents within a few hundred ms, a unit's
// reset (its J-Link re-enumerates) shows as nothing, and an unplugged
// unit's port is really gone.
func TestHotPlugThroughUSBDiscovery(t *testing.T) {
	l := startLine(t, lineSpec{units: 3})
	ch, cfg := watchLine(t, l)
	slots := cfg.SlotList()
	first := map[string]station.Device{}
	for range 3 {
		ev, _ := nextEvent(t, ch, 2*time.Second)
		if !ev.Attached || ev.Device.Console == "" || ev.Device.Board != "nRF9151 DK" {
			t.Fatalf("initial event %+v", ev)
		}
		first[ev.Device.USB] = ev.Device
	}
	for _, s := range slots {
		d, ok := first[s.USB]
		if !ok || d.Probe == "" || s.Probe != "" {
			t.Fatalf("slot %s (usb %s, probe %q): discovered %+v", s.Name, s.USB, s.Probe, d)
		}
	}
	unit3 := first[slots[2].USB]
	port, err := serial.Open(unit3.Console, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open unit 3's console %s: %v", unit3.Console, err)
	}
	defer port.Close()

	// A reset through the J-Link makes it re-enumerate (the kernel says
	// so on the uevent socket): no device event.
	raw, err := net.Dial("unixpacket", cfg.Line.UeventSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if out, err := exec.Command(l.dir+"/bin/nrfjprog", "--reset", "-f", "NRF91", "--snr", first[slots[0].USB].Probe).CombinedOutput(); err != nil {
		t.Fatalf("nrfjprog --reset: %v\n%s", err, out)
	}
	noEvent(t, ch, 800*time.Millisecond)
	var seen []string
	raw.SetReadDeadline(time.Now().Add(time.Second))
	for msg := make([]byte, 4096); ; {
		n, err := raw.Read(msg)
		if err != nil {
			break
		}
		if head, _, _ := strings.Cut(string(msg[:n]), "\x00"); strings.HasSuffix(head, "/"+slots[0].USB) {
			seen = append(seen, head[:strings.Index(head, "@")])
		}
	}
	if !slices.Equal(seen, []string{"unbind", "remove", "add", "bind"}) {
		t.Errorf("unit 1's J-Link during its reset: uevents %q, want it to leave and come back", seen)
	}

	if _, err := l.Unplug(3); err != nil {
		t.Fatal(err)
	}
	if _, err := port.Read(make([]byte, 64)); err == nil {
		t.Error("reading an unplugged unit's port: no error")
	}
	if _, err := os.Stat(unit3.Console); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unplugged unit's device node %s: %v", unit3.Console, err)
	}
	ev, took := nextEvent(t, ch, 2*time.Second)
	if ev.Attached || ev.Device.Probe != unit3.Probe || took > time.Second {
		t.Fatalf("after unplug 3: %+v after %v", ev, took)
	}
	if _, err := l.Unplug(3); err == nil {
		t.Error("unplugging an empty place: no error")
	}

	if _, err := l.Plug(3); err != nil {
		t.Fatal(err)
	}
	ev, took = nextEvent(t, ch, 2*time.Second)
	if !ev.Attached || ev.Device.Probe != unit3.Probe || ev.Device.USB != unit3.USB || took > 300*time.Millisecond {
		t.Fatalf("after plug 3: %+v after %v", ev, took)
	}
	<-l.Units()[2].Settled() // a unit just plugged in boots first, as a real one
	if imei := readIMEI(t, ev.Device.Console); len(imei) != 15 {
		t.Errorf("plugged-back unit's IMEI %q", imei)
	}

	imeiBefore := readIMEI(t, slots[1].Port)
	if _, err := l.Replace(2); err != nil {
		t.Fatal(err)
	}
	unit2 := first[slots[1].USB]
	ev, took = nextEvent(t, ch, 2*time.Second)
	if ev.Attached || ev.Device.Probe != unit2.Probe || took > 300*time.Millisecond {
		t.Fatalf("replace 2, first event: %+v after %v (want the old unit detached at once)", ev, took)
	}
	ev, _ = nextEvent(t, ch, time.Second)
	if !ev.Attached || ev.Device.USB != unit2.USB || ev.Device.Probe == unit2.Probe || ev.Device.Probe == "" {
		t.Fatalf("replace 2, second event: %+v", ev)
	}
	newProbe := ev.Device.Probe
	<-l.Units()[1].Settled()
	if imeiAfter := readIMEI(t, slots[1].Port); imeiAfter == imeiBefore || len(imeiAfter) != 15 {
		t.Errorf("replacement has the old IMEI %s", imeiAfter)
	}
	// The fake flash tools know the new probe, not the old one.
	out, err := exec.Command(l.dir+"/bin/nrfjprog", "--ids").Output()
	if err != nil {
		t.Fatalf("nrfjprog --ids: %v", err)
	}
	ids := strings.Fields(string(out))
	if !slices.Contains(ids, newProbe) || slices.Contains(ids, unit2.Probe) {
		t.Errorf("nrfjprog --ids after replace = %q (new %s, old %s)", ids, newProbe, unit2.Probe)
	}
	noEvent(t, ch, 600*time.Millisecond)
}

// TestSimCtlAndDevices runs the built binary: `station sim` in the
// background, `station sim ctl` against it, and `station devices --config`
// listing the virtual units with their slots.
func TestSimCtlAndDevices(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	simCmd := exec.CommandContext(ctx, stationBin, "sim", "--units", "2", "--dir", dir, "--speed", "20")
	simCmd.Cancel = func() error { return simCmd.Process.Signal(os.Interrupt) }
	stdout, err := simCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := simCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		simCmd.Wait()
	}()
	buf := make([]byte, 256)
	if n, err := stdout.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "sim: ready") {
		t.Fatalf("station sim: %q, %v", buf[:n], err)
	}

	devices := func() []map[string]any {
		t.Helper()
		out, err := exec.Command(stationBin, "devices", "--json", "--config", dir+"/station.toml").Output()
		if err != nil {
			t.Fatalf("station devices: %v", err)
		}
		var list []map[string]any
		if err := json.Unmarshal(out, &list); err != nil {
			t.Fatalf("station devices --json: %v\n%s", err, out)
		}
		return list
	}
	slotsOf := func(list []map[string]any) map[string]string {
		out := map[string]string{}
		for _, d := range list {
			out[d["usb"].(string)] = d["slot"].(string) + " " + d["probe"].(string)
		}
		return out
	}
	before := slotsOf(devices())
	if len(before) != 2 || !strings.HasPrefix(before["1-1.1"], "A1 ") || !strings.HasPrefix(before["1-1.2"], "A2 ") {
		t.Fatalf("station devices before: %v", before)
	}
	text, err := exec.Command(stationBin, "devices", "--config", dir+"/station.toml").Output()
	if err != nil || !strings.Contains(string(text), "A2") || !strings.Contains(string(text), "nRF9151 DK") {
		t.Errorf("station devices (table): %v\n%s", err, text)
	}

	ctl := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(stationBin, append([]string{"sim", "ctl", "--dir", dir}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := ctl("unplug", "2"); code != 0 || !strings.Contains(out, "unit 2 unplugged") {
		t.Fatalf("ctl unplug 2: exit %d %q", code, out)
	}
	if after := slotsOf(devices()); len(after) != 1 || after["1-1.2"] != "" {
		t.Errorf("devices after unplug 2: %v", after)
	}
	if out, code := ctl("unplug", "2"); code != 2 || !strings.Contains(out, "not plugged in") {
		t.Errorf("ctl unplug 2 again: exit %d %q", code, out)
	}
	if out, code := ctl("replace", "2"); code != 0 || !strings.Contains(out, "replaced at usb 1-1.2") {
		t.Fatalf("ctl replace 2: exit %d %q", code, out)
	}
	after := slotsOf(devices())
	if !strings.HasPrefix(after["1-1.2"], "A2 ") || after["1-1.2"] == before["1-1.2"] {
		t.Errorf("devices after replace 2: %v (before %v)", after, before)
	}
	if out, code := ctl("clone", "2"); code != 2 || !strings.Contains(out, "clone takes 2 unit number(s)") {
		t.Errorf("ctl clone 2: exit %d %q", code, out)
	}
	if out, code := ctl("clone", "2", "2"); code != 2 || !strings.Contains(out, "cannot be a clone of itself") {
		t.Errorf("ctl clone 2 2: exit %d %q", code, out)
	}
	if out, code := ctl("clone", "2", "1"); code != 0 || !strings.Contains(out, "replaced at usb 1-1.2") {
		t.Errorf("ctl clone 2 1: exit %d %q", code, out)
	}
	if out, code := ctl("frobnicate", "1"); code != 2 || !strings.Contains(out, "unknown verb") {
		t.Errorf("ctl frobnicate: exit %d %q", code, out)
	}
	if out, code := ctl("plug", "9"); code != 2 || !strings.Contains(out, "no unit 9") {
		t.Errorf("ctl plug 9: exit %d %q", code, out)
	}
	if out, code := exec.Command(stationBin, "sim", "ctl", "--dir", t.TempDir(), "plug", "1").CombinedOutput(); code == nil || !strings.Contains(string(out), "no virtual line running") {
		t.Errorf("ctl without a line: %v %q", code, out)
	}
}

// readIMEI asks the unit on port for its IMEI (AT+CGSN=1), skipping its
// log lines.
func readIMEI(t *testing.T, path string) string {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer p.Close()
	p.SetReadTimeout(100 * time.Millisecond)
	if _, err := p.Write([]byte("AT+CGSN=1\r\n")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 256)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		n, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		got = append(got, buf[:n]...)
		if i := strings.Index(string(got), `+CGSN: "`); i >= 0 && strings.Contains(string(got[i:]), "\nOK") {
			imei, _, _ := strings.Cut(string(got[i+8:]), `"`)
			return imei
		}
	}
	t.Fatalf("%s: no IMEI in %q", path, got)
	return ""
}

// TestUnplugMidFlashEndsUnitUnplugged: a unit pulled out with `sim ctl
// unplug` while it is being programmed ends FAIL UNIT_UNPLUGGED at the
// flash step, as the unplug@flash fault does, and its neighbour still
// passes.
func TestUnplugMidFlashEndsUnitUnplugged(t *testing.T) {
	l := startLine(t, lineSpec{units: 2, speed: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stationBin, "batch", "--config", l.config, "--once", "--json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(stdout)
	verdicts := map[string]station.Verdict{}
	pulled := false
	for {
		var ev station.Event
		if err := dec.Decode(&ev); err != nil {
			break
		}
		if !pulled && ev.Kind == station.StepProgress && ev.Slot == "A1" && ev.Step == station.StepFlash && ev.Percent >= 20 {
			out, code := exec.Command(stationBin, "sim", "ctl", "--dir", l.dir, "unplug", "1").CombinedOutput()
			if code != nil {
				t.Fatalf("sim ctl unplug 1: %v %s", code, out)
			}
			pulled = true
		}
		if ev.Kind == station.VerdictReached {
			verdicts[ev.Slot] = *ev.Verdict
		}
	}
	cmd.Wait()
	if !pulled {
		t.Fatalf("never saw A1 flashing\nstderr:\n%s", stderr.String())
	}
	if v := verdicts["A1"]; v.Outcome != station.Fail || v.Code != station.UnitUnplugged || v.Step != station.StepFlash {
		t.Errorf("A1 pulled mid-flash: %+v", v)
	}
	if v := verdicts["A2"]; v.Outcome != station.Pass {
		t.Errorf("A2: %+v\nstderr:\n%s", v, stderr.String())
	}
}
