package flashctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var _ io.Closer = (*Server)(nil)

// Server owns the virtual probes and answers the fake tools.
// Operations on one probe run one at a time, in arrival order as far as the
// lock allows; operations on different probes run in parallel.
type Server struct {
	log    *slog.Logger
	delay  func(time.Duration) time.Duration
	http   *http.Server
	cancel context.CancelFunc

	mu     sync.RWMutex // guards probes and byKey: Plug replaces entries
	probes []*probe
	byKey  map[string]*probe
}

// probe is the state machine of one virtual J-Link and its chip.
type probe struct {
	cfg  *Probe
	id   int
	key  string        // serial without leading zeros
	sem  chan struct{} // capacity 1: held for a whole operation
	gone atomic.Bool   // unplugged; read without the lock by listings
	once sync.Once     // Unit.Unplug is called once

	// Guarded by sem.
	protected      bool
	firmware       bool // the chip holds an application (programming without erase fails)
	transientSpent bool
	flashUnplugged bool
	bootUnplugged  bool
}

// NewServer builds the control server. delay maps a nominal duration to the
// real time to wait (the sim divides by --speed); nil means real time. It
// panics on a probe whose serial is not digits or that repeats another one:
// both are programming errors of the sim.
func NewServer(probes []*Probe, delay func(time.Duration) time.Duration, logger *slog.Logger) *Server {
	if delay == nil {
		delay = func(d time.Duration) time.Duration { return d }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		log:    logger,
		delay:  delay,
		byKey:  make(map[string]*probe, len(probes)),
		cancel: cancel,
	}
	for i, p := range probes {
		if err := s.addProbe(i+1, p); err != nil {
			panic(err.Error())
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/probes", s.handleProbes)
	mux.HandleFunc("POST /v1/probes/{serial}/ops", s.handleOp)
	s.http = &http.Server{
		Handler:           mux,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
	}
	return s
}

// addProbe adds p as probe id, or in place of the probe id had (mu held
// or not yet shared).
func (s *Server) addProbe(id int, p *Probe) error {
	key := NormalizeSerial(p.Serial)
	if key == "" {
		return fmt.Errorf("flashctl: probe serial %q is not a non-zero number", p.Serial)
	}
	if old, dup := s.byKey[key]; dup && !(id <= len(s.probes) && s.probes[id-1] == old) {
		return fmt.Errorf("flashctl: probe serial %q given twice", p.Serial)
	}
	st := &probe{
		cfg:       p,
		id:        id,
		key:       key,
		sem:       make(chan struct{}, 1),
		protected: p.Faults.Protected,
		firmware:  true, // units leave the previous station with some image in flash
	}
	if id <= len(s.probes) {
		delete(s.byKey, s.probes[id-1].key)
		s.probes[id-1] = st
	} else {
		s.probes = append(s.probes, st)
	}
	s.byKey[key] = st
	return nil
}

// Plug puts p in the place of probe id (1-based): a unit plugged back in,
// or another unit with its own probe in the same place, or (id one past
// the last place) a new place. The old probe must be unplugged;
// operations still running on it end Lost. The new probe starts with a
// fresh state machine.
func (s *Server) Plug(id int, p *Probe) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.probes)+1 {
		return fmt.Errorf("flashctl: no probe place %d", id)
	}
	if id <= len(s.probes) && !s.probes[id-1].gone.Load() {
		return fmt.Errorf("flashctl: probe place %d is in use (probe %s)", id, s.probes[id-1].cfg.Serial)
	}
	if err := s.addProbe(id, p); err != nil {
		return err
	}
	s.log.Info("probe plugged", "probe", p.Serial, "place", id)
	return nil
}

// lookup finds a probe by serial (either form).
func (s *Server) lookup(serial string) *probe {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byKey[NormalizeSerial(serial)]
}

// Serve listens on the unix socket socketPath (a stale socket file there is
// replaced) and serves until Close. It returns nil after Close.
func (s *Server) Serve(socketPath string) error {
	if fi, err := os.Lstat(socketPath); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if err := os.Remove(socketPath); err != nil {
			return fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return fmt.Errorf("listen on control socket: %w", err)
	}
	return s.ServeListener(ln)
}

// ServeListener serves on ln (for callers that must know the socket is
// ready before they go on). It returns nil after Close.
func (s *Server) ServeListener(ln net.Listener) error {
	s.log.Info("flash control serving", "addr", ln.Addr().String(), "probes", len(s.Probes()))
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve flash control: %w", err)
	}
	return nil
}

// Close aborts running operations (their tools see a cancelled stream),
// waits for the handlers to return and removes the socket.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		return errors.Join(fmt.Errorf("shut down flash control: %w", err), s.http.Close())
	}
	return nil
}

// Unplug makes the probe and its unit disappear, as a fault that another
// part of the sim triggers (unplug@register, ...). It reports whether the
// serial was known and still plugged in. The probe leaves listings at once;
// a running operation on it fails as Lost at its next progress tick, and
// Unit.Unplug is called by whichever of the two holds the probe first. If
// ctx ends before that, the running operation makes the call.
func (s *Server) Unplug(ctx context.Context, serial string) bool {
	p := s.lookup(serial)
	if p == nil || p.gone.Swap(true) {
		return false
	}
	s.log.Info("probe unplugged", "probe", p.cfg.Serial)
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
		p.unplug()
	case <-ctx.Done():
	}
	return true
}

// unplug marks the probe gone and tells its unit, once. Call it with the
// probe held.
func (p *probe) unplug() {
	p.gone.Store(true)
	p.once.Do(p.cfg.Unit.Unplug)
}

// Probes lists the plugged-in probes in configuration order.
func (s *Server) Probes() []ProbeInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ProbeInfo
	for _, p := range s.probes {
		if p.gone.Load() {
			continue
		}
		out = append(out, ProbeInfo{ID: p.id, Serial: p.cfg.Serial, Port: p.cfg.Port, Port2: p.cfg.Port2, Family: Family})
	}
	return out
}

func (s *Server) handleProbes(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	list := s.Probes()
	if list == nil {
		list = []ProbeInfo{}
	}
	if err := json.NewEncoder(w).Encode(list); err != nil {
		s.log.Debug("write probe list", "err", err)
	}
}

func (s *Server) handleOp(w http.ResponseWriter, r *http.Request) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "decode request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := req.Validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	out := newStream(w)
	serial := r.PathValue("serial")
	res := s.run(r.Context(), serial, req, out.emit)
	s.log.Info("probe operation", "probe", serial, "op", req.Op, "outcome", res.Outcome, "phase", res.Phase)
	out.emit(Event{Result: &res})
}

// stream writes events as NDJSON and flushes each one.
type stream struct {
	enc *json.Encoder
	rc  *http.ResponseController
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{enc: json.NewEncoder(w), rc: http.NewResponseController(w)}
}

// emit ignores write errors: a vanished client cancels the request context,
// which ends the operation.
func (st *stream) emit(ev Event) {
	if st.enc.Encode(ev) == nil {
		_ = st.rc.Flush()
	}
}

// run performs one operation: tool start-up, probe lookup, connect, checks,
// then the phases.
func (s *Server) run(ctx context.Context, serial string, req Request, emit func(Event)) Result {
	if !s.wait(ctx, StartupTime) {
		return Result{Outcome: Canceled}
	}
	p := s.lookup(serial)
	if p == nil || p.gone.Load() {
		return Result{Outcome: NoProbe}
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{Outcome: Canceled}
	}
	defer func() { <-p.sem }()
	if res, stop := s.connect(ctx, p, req); stop {
		return res
	}
	if req.Op == OpProgram {
		return s.program(ctx, p, req, emit)
	}
	return s.simple(ctx, p, req.Op, emit)
}

// connect is what happens before any phase: the probe may have gone, the
// bootstrap-reset unplug fault, the transient J-Link fault, the family
// check and read-back protection. stop reports that res ends the operation.
func (s *Server) connect(ctx context.Context, p *probe, req Request) (res Result, stop bool) {
	switch {
	case p.gone.Load():
		p.unplug()
		return Result{Outcome: NoProbe}, true
	case (req.Op == OpReset || req.Op == OpPinReset) && p.cfg.Faults.UnplugAtBootstrap && !p.bootUnplugged:
		p.bootUnplugged = true
		p.unplug()
		return Result{Outcome: NoProbe}, true
	case p.cfg.Faults.JLinkTransient && !p.transientSpent:
		p.transientSpent = true
		if !s.wait(ctx, ConnectFailTime) {
			return Result{Outcome: Canceled}, true
		}
		return Result{Outcome: JLinkError, Command: "connect_to_emu_with_snr", Elapsed: ConnectFailTime}, true
	case req.Family != "" && !strings.EqualFold(req.Family, Family):
		return Result{Outcome: WrongFamily}, true
	case p.protected && req.Op != OpRecover:
		return Result{Outcome: Protected}, true
	}
	return Result{}, false
}

// program runs [erase] program [verify] [reset] and drives the unit.
func (s *Server) program(ctx context.Context, p *probe, req Request, emit func(Event)) Result {
	if req.Erase == EraseNone && p.firmware {
		return Result{Outcome: NotErased, Phase: PhaseProgram, Command: "program_file"}
	}
	phases := programPhases(req)
	p.cfg.Unit.Halt()
	for i, ph := range phases {
		if res := s.programPhase(ctx, p, req, ph, phaseCounter{i + 1, len(phases)}, emit); res.Outcome != OK {
			return res
		}
	}
	return Result{Outcome: OK}
}

type phaseCounter struct{ step, steps int }

func (s *Server) programPhase(ctx context.Context, p *probe, req Request, ph phaseSpec, n phaseCounter, emit func(Event)) Result {
	switch ph.phase {
	case PhaseErase:
		p.cfg.Unit.Erase(req.Erase == EraseChip)
		p.firmware = false
	case PhaseProgram:
		if p.cfg.Faults.UnplugAtFlash && !p.flashUnplugged {
			p.flashUnplugged = true
			p.unplug()
		}
	}
	verifyFails := ph.phase == PhaseVerify && p.cfg.Faults.VerifyError
	if res := s.phase(ctx, p, ph, n, verifyFails, emit); res.Outcome != OK {
		return res
	}
	switch ph.phase {
	case PhaseProgram:
		p.cfg.Unit.Program(req.Image.Size, req.Image.SHA256)
		p.firmware = true
	case PhaseVerify:
		if verifyFails {
			return Result{Outcome: VerifyError, Phase: PhaseVerify, Command: "verify_file", Elapsed: ph.dur}
		}
	case PhaseReset:
		p.cfg.Unit.Reset()
	}
	return Result{Outcome: OK}
}

// simple runs recover, eraseall, reset and pinreset.
func (s *Server) simple(ctx context.Context, p *probe, op Op, emit func(Event)) Result {
	phases := opPhases(op)
	if op == OpRecover || op == OpEraseAll {
		p.cfg.Unit.Halt()
	}
	for i, ph := range phases {
		if ph.phase == PhaseRecover || ph.phase == PhaseErase {
			p.cfg.Unit.Erase(true)
			p.firmware = false
		}
		if res := s.phase(ctx, p, ph, phaseCounter{i + 1, len(phases)}, false, emit); res.Outcome != OK {
			return res
		}
		switch ph.phase {
		case PhaseRecover:
			p.protected = false
		case PhaseReset:
			p.cfg.Unit.Reset()
		}
	}
	return Result{Outcome: OK}
}

// phase emits progress at 0 %, 10 %, … 100 %, waiting a tenth of the phase
// between events. A probe that disappears fails the phase as Lost once the
// next chunk of work would have needed it. A phase that is going to fail
// (failing) takes its full time but does not report 100 %.
func (s *Server) phase(ctx context.Context, p *probe, ph phaseSpec, n phaseCounter, failing bool, emit func(Event)) Result {
	for pct := 0; pct <= 100; pct += 10 {
		if pct > 0 {
			if !s.wait(ctx, ph.dur/10) {
				return Result{Outcome: Canceled, Phase: ph.phase}
			}
			if p.gone.Load() {
				p.unplug()
				return Result{Outcome: Lost, Phase: ph.phase, Command: dllCommand(ph.phase), Elapsed: ph.dur * time.Duration(pct) / 100}
			}
		}
		if pct == 100 && failing {
			break
		}
		emit(Event{Phase: ph.phase, Step: n.step, Steps: n.steps, Percent: pct, Elapsed: ph.dur * time.Duration(pct) / 100})
	}
	return Result{Outcome: OK}
}

// dllCommand names the nrfjprog DLL command of a phase, for its error text.
func dllCommand(ph Phase) string {
	names := map[Phase]string{
		PhaseRecover: "recover",
		PhaseErase:   "erase_file",
		PhaseProgram: "program_file",
		PhaseVerify:  "verify_file",
		PhaseReset:   "sys_reset",
	}
	return names[ph]
}

// wait sleeps the scaled nominal duration d, or until ctx ends. It reports
// whether the full time passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	scaled := s.delay(d)
	if scaled <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(scaled)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
