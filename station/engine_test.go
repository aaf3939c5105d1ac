package station

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Small in-package fakes: the engine's line rules are tested here; the real
// parts are tested end to end on the virtual line (linetest/).

type fakeFlasher struct {
	mu       sync.Mutex
	program  []error // returned by successive Program calls, then nil
	recover  []error
	calls    []string
	resetHit func()
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (f *fakeFlasher) Program(ctx context.Context, probe string, fw Firmware, report func(ToolLine)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "program "+probe)
	report(ToolLine{Text: "[ ########## ] Program file", Percent: 50})
	return pop(&f.program)
}

func (f *fakeFlasher) Recover(ctx context.Context, probe string, report func(ToolLine)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "recover "+probe)
	return pop(&f.recover)
}

func (f *fakeFlasher) Reset(ctx context.Context, probe string, report func(ToolLine)) error {
	f.mu.Lock()
	f.calls = append(f.calls, "reset "+probe)
	f.mu.Unlock()
	return nil
}

type fakeModem struct {
	boot    BootReport
	bootErr error
	tag     map[int]string
	gone    bool
}

func (m *fakeModem) Ready(context.Context) error { return nil }
func (m *fakeModem) Identify(context.Context, bool) (Identity, error) {
	return Identity{IMEI: "352656100367872", ModemFW: "mfw_nrf91x1_2.0.2"}, nil
}
func (m *fakeModem) Provision(_ context.Context, p CredentialPlan) (CredentialReport, error) {
	return CredentialReport{IdentitySHA256: HexDigest(p.Identity), KeySHA256: p.Key.Fingerprint()}, nil
}
func (m *fakeModem) ListTag(context.Context, uint32) (map[int]string, error) { return m.tag, nil }
func (m *fakeModem) Watch(ctx context.Context, _ Markers, trigger func(context.Context) error) (BootReport, error) {
	if err := trigger(ctx); err != nil {
		return BootReport{}, err
	}
	return m.boot, m.bootErr
}
func (m *fakeModem) Close() error { return nil }
func (m *fakeModem) Gone() bool   { return m.gone }

type fakePortal struct{ err error }

func (p *fakePortal) Register(context.Context, Registration) error { return p.err }

type memRecorder struct {
	mu        sync.Mutex
	events    []Event
	failKinds map[EventKind]bool
}

func (r *memRecorder) Record(_ context.Context, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failKinds[ev.Kind] {
		return errors.New("disk I/O error")
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *memRecorder) kinds() []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, ev := range r.events {
		out = append(out, ev.Kind)
	}
	return out
}

var goodBoot = BootReport{Booted: true, Attached: true, Bootstrapped: true, Registered: true,
	Endpoint: "urn:imei:352656100367872", BootstrapAt: 3 * time.Second, RegisteredAt: 6 * time.Second}

type harness struct {
	flasher  *fakeFlasher
	modem    *fakeModem
	portal   *fakePortal
	recorder *memRecorder
	cfg      *Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg, err := ParseConfig("/x/station.toml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Slots = cfg.Slots[:1]
	return &harness{
		flasher:  &fakeFlasher{},
		modem:    &fakeModem{boot: goodBoot, tag: map[int]string{3: "A", 4: "B"}},
		portal:   &fakePortal{},
		recorder: &memRecorder{},
		cfg:      cfg,
	}
}

func (h *harness) engine(t *testing.T) *Engine {
	t.Helper()
	opt := Options{
		Config: h.cfg, Flasher: h.flasher, Portal: h.portal, Recorder: h.recorder,
		Modems:     func(context.Context, string, func(string, string)) (Modem, error) { return h.modem, nil },
		PortFinder: func(context.Context, string) (string, error) { return "/dev/ttyACM0", nil },
	}
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func (h *harness) runOne(t *testing.T) Verdict {
	t.Helper()
	v, err := h.engine(t).RunOnce(t.Context(), 0)
	if err != nil || len(v) != 1 {
		t.Fatalf("RunOnce: %v %v", v, err)
	}
	return v[0]
}

func TestProvisionLineRules(t *testing.T) {
	protected := Errorf(FlashProtected, nil, "exit 16")
	tests := []struct {
		name      string
		setup     func(h *harness)
		outcome   Outcome
		code      Code
		step      StepName
		wantCalls []string
	}{
		{"pass", func(h *harness) {}, Pass, CodeNone, "", []string{"program 1051202135", "reset 1051202135"}},
		{"transient jlink retried once", func(h *harness) {
			h.flasher.program = []error{Errorf(FlashJLink, nil, "exit 33")}
		}, Pass, CodeNone, "", []string{"program 1051202135", "program 1051202135", "reset 1051202135"}},
		{"transient jlink twice fails", func(h *harness) {
			h.flasher.program = []error{Errorf(FlashJLink, nil, "33"), Errorf(FlashJLink, nil, "33")}
		}, Fail, FlashJLink, StepFlash, nil},
		{"protected is recovered", func(h *harness) {
			h.flasher.program = []error{protected}
		}, Pass, CodeNone, "", []string{"program 1051202135", "recover 1051202135", "program 1051202135", "reset 1051202135"}},
		{"protected without recover", func(h *harness) {
			h.cfg.Flash.Recover = false
			h.flasher.program = []error{protected}
		}, Fail, FlashProtected, StepFlash, []string{"program 1051202135"}},
		{"recover failing three times", func(h *harness) {
			h.flasher.program = []error{protected}
			h.flasher.recover = slices.Repeat([]error{Errorf(FlashRecoverFailed, nil, "62")}, 3)
		}, Fail, FlashRecoverFailed, StepFlash, nil},
		{"portal 500", func(h *harness) {
			h.portal.err = Errorf(PortalServerError, nil, "500")
		}, Fail, PortalServerError, StepRegister, nil},
		{"registered without bootstrap", func(h *harness) {
			h.modem.boot.Bootstrapped = false
		}, Fail, RegisteredWithoutBootstrap, StepBootstrap, nil},
		{"endpoint mismatch", func(h *harness) {
			h.modem.boot.Endpoint = "urn:imei:000000000000000"
		}, Fail, EndpointMismatch, StepBootstrap, nil},
		{"server tag empty", func(h *harness) {
			h.modem.tag = map[int]string{4: "B"}
		}, Fail, ServerTagEmpty, StepVerify, nil},
		{"lte never attaches", func(h *harness) {
			h.modem.boot = BootReport{Booted: true}
			h.modem.bootErr = context.DeadlineExceeded
		}, Fail, LTENoAttach, StepBootstrap, nil},
		{"no boot banner after the reset", func(h *harness) {
			h.modem.boot = BootReport{}
			h.modem.bootErr = context.DeadlineExceeded
		}, BootstrapTimeout.Outcome(), BootstrapTimeout, StepBootstrap, nil},
		{"probe gone with its unit is an unplug", func(h *harness) {
			h.flasher.program = []error{Errorf(FlashNoProbe, nil, "exit 41")}
			h.modem.gone = true
		}, Fail, UnitUnplugged, StepFlash, nil},
		{"probe gone alone stays no-probe", func(h *harness) {
			h.flasher.program = []error{Errorf(FlashNoProbe, nil, "exit 41")}
		}, Fail, FlashNoProbe, StepFlash, nil},
		{"modem firmware too old", func(h *harness) {
			h.cfg.Firmware.MinModemFW = "2.0.3"
		}, Fail, ModemFWTooOld, StepIdentify, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				tt.setup(h)
				v := h.runOne(t)
				if v.Outcome != tt.outcome || v.Code != tt.code || v.Step != tt.step {
					t.Fatalf("verdict %s %s at %q (%s), want %s %s at %q", v.Outcome, v.Code, v.Step, v.Detail, tt.outcome, tt.code, tt.step)
				}
				if v.Outcome != Pass && v.Hint == "" {
					t.Error("failure without operator hint")
				}
				if tt.wantCalls != nil && !slices.Equal(h.flasher.calls, tt.wantCalls) {
					t.Errorf("flasher calls %q, want %q", h.flasher.calls, tt.wantCalls)
				}
			})
		})
	}
}

func TestVerdictIsPublishedOnlyAfterItWasRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		e := h.engine(t)
		sub := e.Subscribe(1024, Lossless)
		var published []Event
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range sub.C {
				published = append(published, ev)
			}
		}()
		v, _ := e.RunOnce(t.Context(), 0)
		e.Close()
		<-done
		if v[0].Outcome != Pass {
			t.Fatalf("verdict %+v", v[0])
		}
		kinds := h.recorder.kinds()
		if kinds[0] != RunStarted || kinds[len(kinds)-1] != VerdictReached {
			t.Errorf("recorder saw %v", kinds)
		}
		// The verdict is the run's last event; the slot's new state follows.
		tail := published[len(published)-2:]
		if tail[0].Kind != VerdictReached || tail[0].Verdict.Outcome != Pass {
			t.Errorf("last run event published %+v", tail[0])
		}
		if tail[1].Kind != SlotChanged || tail[1].Status.State != SlotDone || tail[1].Status.Last.Outcome != Pass {
			t.Errorf("after the verdict %+v", tail[1])
		}
		for i := 1; i < len(published); i++ {
			if published[i].Seq <= published[i-1].Seq {
				t.Fatalf("sequence not increasing at %d", i)
			}
		}
	})
}

func TestVerdictCommitFailureIsErrorNotPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.recorder.failKinds = map[EventKind]bool{VerdictReached: true}
		v := h.runOne(t)
		if v.Outcome != Errored || v.Code != RecordFailed {
			t.Fatalf("verdict %s %s, want ERROR RECORD_FAILED", v.Outcome, v.Code)
		}
	})
}

func TestUnrecordableRunDoesNotTouchTheUnit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.recorder.failKinds = map[EventKind]bool{RunStarted: true}
		v := h.runOne(t)
		if v.Outcome != Errored || v.Code != RecordFailed || len(h.flasher.calls) != 0 {
			t.Fatalf("verdict %s %s, flasher calls %v", v.Outcome, v.Code, h.flasher.calls)
		}
	})
}

func TestInterruptIsAborted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithCancel(t.Context())
		h.modem.bootErr = context.Canceled
		h.modem.boot = BootReport{Booted: true}
		cancel()
		e := h.engine(t)
		v := e.provision(ctx, h.cfg.SlotList()[0], newRunID(), "")
		if v.Outcome != Aborted || v.Code != Interrupted {
			t.Fatalf("verdict %s %s", v.Outcome, v.Code)
		}
	})
}

func TestModemFWVersion(t *testing.T) {
	for in, want := range map[string][3]int{
		"mfw_nrf91x1_2.0.2": {2, 0, 2}, "mfw_nrf9160_1.3.2": {1, 3, 2},
		"mfw_nrf9151-ntn_1.0.0-1.alpha": {1, 0, 0}, "mfw_nrf91x1_2.0.2-FOTA-TEST": {2, 0, 2},
	} {
		got, ok := ModemFWVersion(in)
		if !ok || got != want {
			t.Errorf("%s: %v %v", in, got, ok)
		}
	}
}
