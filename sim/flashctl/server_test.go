package flashctl

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recUnit records the calls the server makes, in order.
type recUnit struct {
	mu    sync.Mutex
	calls []string
}

var _ Unit = (*recUnit)(nil)

func (u *recUnit) add(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, s)
}

func (u *recUnit) Halt()           { u.add("halt") }
func (u *recUnit) Erase(chip bool) { u.add(fmt.Sprintf("erase chip=%v", chip)) }
func (u *recUnit) Program(size int, sha string) {
	u.add(fmt.Sprintf("program %d %s", size, sha))
}
func (u *recUnit) Reset()  { u.add("reset") }
func (u *recUnit) Unplug() { u.add("unplug") }

func (u *recUnit) Calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

const testSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func fastDelay(d time.Duration) time.Duration { return d / 1000 }

// mustServe starts a server on a socket in a temp dir and returns a client.
func mustServe(tb testing.TB, delay func(time.Duration) time.Duration, probes ...*Probe) (*Server, *Client, string) {
	tb.Helper()
	sock := filepath.Join(tb.TempDir(), "ctl.sock")
	s := NewServer(probes, delay, nil)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ln) }()
	c := NewClient(sock)
	tb.Cleanup(func() {
		c.Close()
		if err := s.Close(); err != nil {
			tb.Errorf("close server: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return s, c, sock
}

func programReq(erase Erase, verify, reset bool) Request {
	return Request{Op: OpProgram, Family: "nrf91", Erase: erase, Verify: verify, Reset: reset,
		Image: &Image{Size: 5000, Pages: 2, SHA256: testSHA}}
}

type step struct {
	req  Request
	want Outcome
}

func TestOperations(t *testing.T) {
	prog := fmt.Sprintf("program 5000 %s", testSHA)
	full := programReq(EraseChip, true, true)
	tests := []struct {
		name      string
		faults    Faults
		steps     []step
		wantCalls []string
		wantGone  bool
	}{
		{"program chip erase verify reset", Faults{}, []step{{full, OK}},
			[]string{"halt", "erase chip=true", prog, "reset"}, false},
		{"sector erase without reset", Faults{}, []step{{programReq(EraseSector, false, false), OK}},
			[]string{"halt", "erase chip=false", prog}, false},
		{"no erase on a chip holding firmware", Faults{}, []step{{programReq(EraseNone, true, true), NotErased}},
			nil, false},
		{"no erase after eraseall", Faults{}, []step{{Request{Op: OpEraseAll}, OK}, {programReq(EraseNone, true, false), OK}},
			[]string{"halt", "erase chip=true", "reset", "halt", prog}, false},
		{"protected until recover", Faults{Protected: true},
			[]step{{full, Protected}, {Request{Op: OpReset}, Protected}, {Request{Op: OpRecover}, OK}, {full, OK}},
			[]string{"halt", "erase chip=true", "halt", "erase chip=true", prog, "reset"}, false},
		{"transient J-Link once", Faults{JLinkTransient: true},
			[]step{{Request{Op: OpReset}, JLinkError}, {Request{Op: OpReset}, OK}, {Request{Op: OpPinReset}, OK}},
			[]string{"reset", "reset"}, false},
		{"verify error every time", Faults{VerifyError: true}, []step{{full, VerifyError}, {full, VerifyError}},
			[]string{"halt", "erase chip=true", prog, "halt", "erase chip=true", prog}, false},
		{"unplug at flash", Faults{UnplugAtFlash: true}, []step{{full, Lost}, {full, NoProbe}},
			[]string{"halt", "erase chip=true", "unplug"}, true},
		{"unplug at bootstrap reset", Faults{UnplugAtBootstrap: true},
			[]step{{full, OK}, {Request{Op: OpReset}, NoProbe}, {Request{Op: OpReset}, NoProbe}},
			[]string{"halt", "erase chip=true", prog, "reset", "unplug"}, true},
		{"wrong family", Faults{}, []step{{Request{Op: OpReset, Family: "NRF52"}, WrongFamily}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &recUnit{}
			s, c, _ := mustServe(t, fastDelay, &Probe{Serial: "001051200001", Port: "/dev/pts/1", Unit: u, Faults: tt.faults})
			for i, st := range tt.steps {
				res, err := c.Do(t.Context(), "1051200001", st.req, nil)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.Outcome != st.want {
					t.Fatalf("step %d %s: outcome %q, want %q", i, st.req.Op, res.Outcome, st.want)
				}
			}
			if got := u.Calls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("unit calls\n got %q\nwant %q", got, tt.wantCalls)
			}
			if gone := len(s.Probes()) == 0; gone != tt.wantGone {
				t.Errorf("probe gone = %v, want %v", gone, tt.wantGone)
			}
		})
	}
}

func TestProgressEvents(t *testing.T) {
	u := &recUnit{}
	_, c, _ := mustServe(t, fastDelay, &Probe{Serial: "001051200001", Unit: u})
	var evs []Event
	res, err := c.Do(t.Context(), "001051200001", programReq(EraseChip, true, true), func(ev Event) { evs = append(evs, ev) })
	if err != nil || res.Outcome != OK {
		t.Fatalf("program: %v %+v", err, res)
	}
	phases := []Phase{PhaseErase, PhaseProgram, PhaseVerify, PhaseReset}
	if len(evs) != 11*len(phases) {
		t.Fatalf("got %d events, want %d", len(evs), 11*len(phases))
	}
	for i, ev := range evs {
		ph, pct := phases[i/11], (i%11)*10
		if ev.Phase != ph || ev.Percent != pct || ev.Step != i/11+1 || ev.Steps != len(phases) {
			t.Errorf("event %d = %+v, want phase %s %d%% step %d/4", i, ev, ph, pct, i/11+1)
		}
	}
	// Nominal durations: 0.35 s chip erase, 8 s/MiB program of 5000 bytes.
	if got := evs[10].Elapsed; got != ChipEraseTime {
		t.Errorf("erase done elapsed %v, want %v", got, ChipEraseTime)
	}
	if got, want := evs[21].Elapsed, perMiB(ProgramPerMiB, 5000); got != want {
		t.Errorf("program done elapsed %v, want %v", got, want)
	}
}

func TestListAndNoSim(t *testing.T) {
	s, c, _ := mustServe(t, fastDelay,
		&Probe{Serial: "001051200001", Port: "/p/a0", Port2: "/p/a1", Unit: &recUnit{}},
		&Probe{Serial: "001051200002", Port: "/p/b0", Unit: &recUnit{}})
	got, err := c.Probes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []ProbeInfo{
		{ID: 1, Serial: "001051200001", Port: "/p/a0", Port2: "/p/a1", Family: Family},
		{ID: 2, Serial: "001051200002", Port: "/p/b0", Family: Family},
	}
	if !slices.Equal(got, want) {
		t.Errorf("probes\n got %+v\nwant %+v", got, want)
	}
	if !s.Unplug(t.Context(), "1051200002") || s.Unplug(t.Context(), "1051200002") {
		t.Error("Unplug: want true then false")
	}
	if got, _ := c.Probes(t.Context()); len(got) != 1 {
		t.Errorf("after unplug: %+v", got)
	}
	res, err := c.Do(t.Context(), "999", Request{Op: OpReset}, nil)
	if err != nil || res.Outcome != NoProbe {
		t.Errorf("unknown serial: %+v %v", res, err)
	}

	noSim := NewClient(filepath.Join(t.TempDir(), "missing.sock"))
	if list, err := noSim.Probes(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("no sim list: %v %v", list, err)
	}
	if res, err := noSim.Do(t.Context(), "1", Request{Op: OpReset}, nil); err != nil || res.Outcome != NoProbe {
		t.Errorf("no sim op: %+v %v", res, err)
	}
}

func TestBadRequest(t *testing.T) {
	_, c, _ := mustServe(t, fastDelay, &Probe{Serial: "1", Unit: &recUnit{}})
	for _, req := range []Request{
		{Op: "format"},
		{Op: OpProgram, Erase: EraseChip},
		{Op: OpProgram, Erase: "all", Image: &Image{Size: 1, Pages: 1, SHA256: testSHA}},
		{Op: OpProgram, Erase: EraseChip, Image: &Image{Size: 1, Pages: 1, SHA256: strings.ToUpper(testSHA)}},
	} {
		if _, err := c.Do(t.Context(), "1", req, nil); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("%+v: err %v, want a 400", req, err)
		}
	}
}

// Two programs on one probe must not interleave their unit calls.
func TestOperationsOnOneProbeAreSerialised(t *testing.T) {
	u := &recUnit{}
	_, c, _ := mustServe(t, fastDelay, &Probe{Serial: "7", Unit: u})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if res, err := c.Do(t.Context(), "7", programReq(EraseChip, true, true), nil); err != nil || res.Outcome != OK {
				t.Errorf("program: %+v %v", res, err)
			}
		})
	}
	wg.Wait()
	one := []string{"halt", "erase chip=true", fmt.Sprintf("program 5000 %s", testSHA), "reset"}
	want := slices.Concat(one, one, one)
	if got := u.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls interleaved:\n%q", got)
	}
}

// Server.Unplug during a long operation fails it as Lost within a tick.
func TestUnplugDuringOperation(t *testing.T) {
	u := &recUnit{}
	s, c, _ := mustServe(t, func(d time.Duration) time.Duration { return d / 20 }, &Probe{Serial: "9", Unit: u})
	req := programReq(EraseChip, false, false)
	req.Image.Size = 1 << 20 // 8 s nominal program, 40 ms per tick here
	started := make(chan struct{})
	var once sync.Once
	done := make(chan Result, 1)
	go func() {
		res, err := c.Do(t.Context(), "9", req, func(ev Event) {
			if ev.Phase == PhaseProgram {
				once.Do(func() { close(started) })
			}
		})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-started
	if !s.Unplug(t.Context(), "9") {
		t.Fatal("Unplug returned false")
	}
	res := <-done
	if res.Outcome != Lost || res.Phase != PhaseProgram || res.Command != "program_file" {
		t.Errorf("result %+v, want lost in program_file", res)
	}
	if got, want := u.Calls(), []string{"halt", "erase chip=true", "unplug"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// A client that goes away aborts the operation; Close does not hang on it.
func TestCancelAndClose(t *testing.T) {
	u := &recUnit{}
	s := NewServer([]*Probe{{Serial: "5", Unit: u}}, nil, nil) // real time: recover takes 8 s
	sock := filepath.Join(t.TempDir(), "c.sock")
	errc := make(chan error, 1)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { errc <- s.ServeListener(ln) }()
	c := NewClient(sock)
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, "5", Request{Op: OpRecover}, func(Event) { cancel() })
		got <- err
	}()
	if err := <-got; err == nil {
		t.Fatal("cancelled Do returned no error")
	}
	// A second, long operation is aborted by Close.
	go func() {
		_, err := c.Do(t.Context(), "5", Request{Op: OpRecover}, nil)
		got <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	<-got
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestNormalizeSerial(t *testing.T) {
	for in, want := range map[string]string{
		"001051200001": "1051200001", "1051200001": "1051200001", "0": "", "": "", "12a": "", "-1": "",
	} {
		if got := NormalizeSerial(in); got != want {
			t.Errorf("NormalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewServerRejectsBadProbes(t *testing.T) {
	for _, probes := range [][]*Probe{
		{{Serial: "abc"}},
		{{Serial: "0001"}, {Serial: "1"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%v: no panic", probes)
				}
			}()
			NewServer(probes, nil, nil)
		}()
	}
}

// TestPlugReplacesProbe: after a unit is replaced in its place by one with
// its own probe, the tools see the new serial and no longer the old one;
// a place still in use or unknown is refused.
func TestPlugReplacesProbe(t *testing.T) {
	old, repl := &recUnit{}, &recUnit{}
	s, c, _ := mustServe(t, fastDelay,
		&Probe{Serial: "001051200001", Port: "/dev/a", Unit: old},
		&Probe{Serial: "001051200002", Port: "/dev/b", Unit: &recUnit{}})
	if err := s.Plug(1, &Probe{Serial: "001051201001", Port: "/dev/c", Unit: repl}); err == nil {
		t.Fatal("Plug over a probe still plugged in: no error")
	}
	if !s.Unplug(t.Context(), "1051200001") {
		t.Fatal("Unplug: probe unknown")
	}
	if err := s.Plug(1, &Probe{Serial: "001051200002", Unit: repl}); err == nil {
		t.Fatal("Plug with the serial of another place: no error")
	}
	if err := s.Plug(4, &Probe{Serial: "001051201001", Unit: repl}); err == nil {
		t.Fatal("Plug into an unknown place: no error")
	}
	if err := s.Plug(1, &Probe{Serial: "001051201001", Port: "/dev/c", Unit: repl}); err != nil {
		t.Fatal(err)
	}
	list, err := c.Probes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != 1 || list[0].Serial != "001051201001" || list[0].Port != "/dev/c" {
		t.Fatalf("probes after replace: %+v", list)
	}
	if res, err := c.Do(t.Context(), "1051200001", Request{Op: OpReset}, nil); err != nil || res.Outcome != NoProbe {
		t.Errorf("reset on the old probe: %+v, %v", res, err)
	}
	if res, err := c.Do(t.Context(), "1051201001", Request{Op: OpReset}, nil); err != nil || res.Outcome != OK {
		t.Errorf("reset on the new probe: %+v, %v", res, err)
	}
	if got := repl.Calls(); !slices.Equal(got, []string{"reset"}) {
		t.Errorf("new unit saw %q", got)
	}
	if got := old.Calls(); !slices.Equal(got, []string{"unplug"}) {
		t.Errorf("old unit saw %q", got)
	}
}
