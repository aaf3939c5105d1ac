package records

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"nrfline/station"
)

// timeLayout is how times are stored: UTC, fixed width, so text order is
// time order.
const timeLayout = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// runState is what the store keeps in memory about a run in flight: enough
// to write the whole run again in the verdict transaction, so a progress
// write that failed earlier costs nothing once the verdict commits.
type runState struct {
	mu       sync.Mutex
	id       string
	start    station.RunStart
	identity *station.Identity
	steps    []station.StepResult
	written  written // what is committed already
	tr       *transcript
	pending  *station.Verdict // a verdict whose commit failed, to be recorded as ERROR later
}

// written says which parts of a run are committed. Record is called in
// order for a run, and an op's after hook runs before its caller returns,
// so the snapshot an op is built from is never stale.
type written struct {
	run      bool
	identity bool
	steps    int
}

// Record is the station.Recorder: the engine calls it for every event of a
// run, in order, before publishing the event. Progress events (run start,
// identity, step start and end) are written at once; device lines, tool
// output and notes go to the run's transcript in memory; the verdict writes
// everything in one transaction with synchronous=FULL and Record returns nil
// only after that transaction committed. Every failure is a *station.Error
// with code RECORD_FAILED.
func (s *Store) Record(ctx context.Context, ev station.Event) error {
	if ev.Run == "" {
		return nil // slot events belong to no run
	}
	var err error
	switch ev.Kind {
	case station.RunStarted:
		err = s.runStarted(ctx, ev)
	case station.UnitIdentified:
		err = s.unitIdentified(ctx, ev)
	case station.StepStarted:
		err = s.stepStarted(ctx, ev)
	case station.StepFinished:
		err = s.stepFinished(ctx, ev)
	case station.VerdictReached:
		err = s.verdictReached(ctx, ev)
	case station.DeviceLine, station.ToolOutput, station.Note:
		s.transcribe(ev)
	}
	if err != nil {
		return station.Errorf(station.RecordFailed, err, "record %s of run %s", ev.Kind, ev.Run)
	}
	return nil
}

// state returns the run's in-memory state.
func (s *Store) state(id string) (*runState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.runs[id]
	if !ok {
		return nil, fmt.Errorf("run %s was never started here", id)
	}
	return st, nil
}

func (s *Store) runStarted(ctx context.Context, ev station.Event) error {
	if ev.Start == nil {
		return errors.New("run_started event without start")
	}
	st := &runState{id: ev.Run, start: *ev.Start, tr: newTranscript(s.opt.headBytes, s.opt.tailBytes)}
	if st.start.Started.IsZero() {
		st.start.Started = ev.Time
	}
	s.mu.Lock()
	if _, dup := s.runs[ev.Run]; dup {
		s.mu.Unlock()
		return fmt.Errorf("run %s started twice", ev.Run)
	}
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.runs[ev.Run] = st
	s.mu.Unlock()
	st.tr.add(st.start.Started, "run", fmt.Sprintf("started in slot %s (probe %s), firmware %s",
		st.start.Slot.Name, st.start.Slot.Probe, st.start.Firmware.Name))
	return s.submit(ctx, st.progressOp("insert run", true, nil))
}

func (s *Store) unitIdentified(ctx context.Context, ev station.Event) error {
	if ev.Identity == nil {
		return errors.New("unit_identified event without identity")
	}
	st, err := s.state(ev.Run)
	if err != nil {
		return err
	}
	id := *ev.Identity
	st.mu.Lock()
	st.identity = &id
	st.mu.Unlock()
	st.tr.add(ev.Time, "unit", fmt.Sprintf("IMEI %s, modem firmware %s", id.IMEI, id.ModemFW))
	return s.submit(ctx, st.progressOp("update identity", false, nil))
}

func (s *Store) stepStarted(ctx context.Context, ev station.Event) error {
	st, err := s.state(ev.Run)
	if err != nil {
		return err
	}
	st.tr.add(ev.Time, "step", string(ev.Step)+" started")
	return s.submit(ctx, st.progressOp("update current step", false, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET current_step = ?, updated = ? WHERE id = ?`,
			string(ev.Step), ts(ev.Time), ev.Run)
		return err
	}))
}

func (s *Store) stepFinished(ctx context.Context, ev station.Event) error {
	if ev.Result == nil {
		return errors.New("step_finished event without result")
	}
	st, err := s.state(ev.Run)
	if err != nil {
		return err
	}
	st.mu.Lock()
	st.steps = append(st.steps, *ev.Result)
	st.mu.Unlock()
	st.tr.add(ev.Time, "step", describeStep(*ev.Result))
	// The step row carries its end: crash recovery takes the later of the
	// run's updated and its last step's end, so no UPDATE of the run here.
	return s.submit(ctx, st.progressOp("insert step", false, nil))
}

// progressOp writes whatever of the run is not committed yet (run row,
// identity, steps), then extra.
func (st *runState) progressOp(name string, durable bool, extra func(context.Context, *sql.Tx) error) *op {
	snap := st.snapshot()
	o := newOp(name, durable, func(ctx context.Context, tx *sql.Tx) error {
		if err := snap.write(ctx, tx); err != nil {
			return err
		}
		if extra == nil {
			return nil
		}
		return extra(ctx, tx)
	})
	o.after = func(err error) {
		if err == nil {
			st.committed(snap)
		}
	}
	return o
}

func describeStep(r station.StepResult) string {
	msg := fmt.Sprintf("%s %s in %.3fs", r.Step, r.Outcome, r.Duration().Seconds())
	if r.Code != "" {
		msg += " " + string(r.Code)
	}
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	return msg
}

// transcribe keeps a device line, tool output or note with the run.
func (s *Store) transcribe(ev station.Event) {
	s.mu.Lock()
	st := s.runs[ev.Run]
	s.mu.Unlock()
	if st == nil {
		return
	}
	tag := string(ev.Kind)
	switch ev.Kind {
	case station.DeviceLine:
		tag = ev.Dir
	case station.ToolOutput:
		tag = "tool"
	}
	st.tr.add(ev.Time, tag, ev.Text)
}

func (s *Store) verdictReached(ctx context.Context, ev station.Event) error {
	if ev.Verdict == nil {
		return errors.New("verdict event without verdict")
	}
	st, err := s.state(ev.Run)
	if err != nil {
		return err
	}
	v := *ev.Verdict
	st.tr.add(v.Ended, "verdict", fmt.Sprintf("%s %s %s", v.Outcome, v.Code, v.Step))
	o, err := s.verdictOp(st, v)
	if err != nil {
		return err
	}
	if err := s.submit(ctx, o); err != nil {
		s.keepPending(st, v, err)
		return err
	}
	return nil
}

// verdictOp builds the one transaction that ends a run: whatever of the run
// is not committed yet (its row, identity, steps), the verdict with its
// bookkeeping, and the compressed transcript.
func (s *Store) verdictOp(st *runState, v station.Verdict) (*op, error) {
	text, stats := st.tr.text()
	gz, err := s.gz.compress(text)
	if err != nil {
		return nil, err
	}
	snap := st.snapshot()
	o := newOp("record verdict", true, func(ctx context.Context, tx *sql.Tx) error {
		if err := snap.write(ctx, tx); err != nil {
			return err
		}
		cyc := cycleAdds{}
		if err := finishRun(ctx, tx, endingOf(snap.row, v, snap.steps), cyc); err != nil {
			return err
		}
		if err := cyc.flush(ctx, tx); err != nil {
			return err
		}
		return insertTranscript(ctx, tx, snap.row.id, gz, stats)
	})
	o.after = func(err error) {
		if err == nil {
			s.mu.Lock()
			delete(s.runs, st.id)
			s.mu.Unlock()
			s.reader.finishes.Add(1)
		}
	}
	return o, nil
}

// keepPending remembers a verdict that could not be committed. The engine
// shows it as ERROR RECORD_FAILED; the store records exactly that as soon as
// the file takes writes again (or the next Open closes the run as ABORTED).
func (s *Store) keepPending(st *runState, v station.Verdict, err error) {
	failed := v.Unrecorded(err)
	st.mu.Lock()
	st.pending = &failed
	st.mu.Unlock()
	s.log.Error("verdict not recorded", "run", st.id, "outcome", v.Outcome, "err", err)
}

// retryPending runs on the writer after a batch that committed: it records
// the ERROR verdicts whose first commit failed.
func (s *Store) retryPending() {
	s.mu.Lock()
	var todo []*runState
	for _, st := range s.runs {
		st.mu.Lock()
		if st.pending != nil {
			todo = append(todo, st)
		}
		st.mu.Unlock()
	}
	s.mu.Unlock()
	for _, st := range todo {
		st.mu.Lock()
		v := *st.pending
		st.mu.Unlock()
		o, err := s.verdictOp(st, v)
		if err != nil {
			continue
		}
		o.state.Store(opTaken)
		errs := s.applyBatch([]*op{o})
		o.after(errs[0])
		if errs[0] != nil {
			return // still failing; try again after the next good batch
		}
		s.log.Warn("recorded a verdict that failed before as ERROR RECORD_FAILED", "run", st.id)
	}
}

// flushPending is retryPending at Close.
func (s *Store) flushPending() { s.retryPending() }

// runRow is a run's start and identity.
type runRow struct {
	id       string
	start    station.RunStart
	identity station.Identity
}

// snapshot is a run as known now, with what of it is committed already.
type snapshot struct {
	row   runRow
	steps []station.StepResult
	done  written
}

func (st *runState) snapshot() snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	sn := snapshot{row: runRow{id: st.id, start: st.start}, steps: slices.Clone(st.steps), done: st.written}
	if st.identity != nil {
		sn.row.identity = *st.identity
	}
	return sn
}

// committed notes what a snapshot's op committed.
func (st *runState) committed(sn snapshot) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.written.run = true
	st.written.identity = st.written.identity || sn.row.identity.IMEI != "" || sn.row.identity.ModemFW != ""
	st.written.steps = max(st.written.steps, len(sn.steps))
}

// write writes the parts of the run that are not committed yet.
func (sn snapshot) write(ctx context.Context, tx *sql.Tx) error {
	if !sn.done.run {
		if err := insertRun(ctx, tx, sn.row); err != nil {
			return err
		}
	}
	if !sn.done.identity {
		if err := updateIdentity(ctx, tx, sn.row, sn.row.start.Started); err != nil {
			return err
		}
	}
	if n := sn.done.steps; n < len(sn.steps) {
		return insertSteps(ctx, tx, sn.row.id, n+1, sn.steps[n:])
	}
	return nil
}

// insertRun writes the RUNNING row if it is not there yet.
func insertRun(ctx context.Context, tx *sql.Tx, r runRow) error {
	s := r.start
	_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, station_id, station_version, slot, probe, operator,
		fw_name, fw_sha256, flash_tool, flash_version, started, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		r.id, s.StationID, s.StationVersion, s.Slot.Name, s.Slot.Probe, s.Operator,
		s.Firmware.Name, s.Firmware.SHA256, s.FlashTool, s.FlashVersion, ts(s.Started), ts(s.Started))
	if err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	return nil
}

func updateIdentity(ctx context.Context, tx *sql.Tx, r runRow, at time.Time) error {
	id := r.identity
	if id.IMEI == "" && id.ModemFW == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE runs SET imei = ?, iccid = ?, imsi = ?, modem_fw = ?, model = ?,
		hw_version = ?, modem_uuid = ?, updated = max(updated, ?) WHERE id = ?`,
		id.IMEI, id.ICCID, id.IMSI, id.ModemFW, id.Model, id.HWVersion, id.UUID, ts(at), r.id)
	if err != nil {
		return fmt.Errorf("update identity: %w", err)
	}
	return nil
}

// insertSteps writes steps numbered from seq on in one statement; steps
// already there are left alone.
func insertSteps(ctx context.Context, tx *sql.Tx, run string, seq int, steps []station.StepResult) error {
	if len(steps) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO steps (run_id, seq, name, started, ended, seconds, outcome, code, detail, measurements) VALUES `)
	args := make([]any, 0, 10*len(steps))
	for i, r := range steps {
		m := []byte("{}")
		if len(r.Measurements) > 0 {
			var err error
			if m, err = json.Marshal(r.Measurements); err != nil {
				return fmt.Errorf("encode measurements of step %s: %w", r.Step, err)
			}
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, run, seq+i, string(r.Step), ts(r.Started), ts(r.Ended), seconds(r.Ended.Sub(r.Started)),
			string(r.Outcome), string(r.Code), r.Detail, string(m))
	}
	q.WriteString(" ON CONFLICT (run_id, seq) DO NOTHING")
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert steps: %w", err)
	}
	return nil
}

// seconds rounds a duration to milliseconds.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func insertTranscript(ctx context.Context, tx *sql.Tx, run string, gz []byte, st transcriptStats) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO transcripts (run_id, lines, cut_lines, bytes, gz) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET lines = excluded.lines, cut_lines = excluded.cut_lines,
		bytes = excluded.bytes, gz = excluded.gz`, run, st.lines, st.cutLines, st.bytes, gz)
	if err != nil {
		return fmt.Errorf("insert transcript: %w", err)
	}
	return nil
}
