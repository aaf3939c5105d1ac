package records

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"nrfline/station"
)

// RunRow is one run as the runs report shows it: the run columns every
// store of runs shares (station.RunRecord), so the central store's reports
// print through the same renderers.
type RunRow = station.RunRecord

// runColumns are the columns of the runs report, in order: the CSV header.
var runColumns = []string{"id", "station_id", "station_version", "slot", "probe", "operator", "imei", "iccid",
	"imsi", "modem_fw", "model", "hw_version", "modem_uuid", "fw_name", "fw_sha256", "flash_tool", "flash_version",
	"started", "ended", "seconds", "outcome", "code", "step", "detail", "attempt", "psk_identity", "psk_sha256"}

func runQuery(f Filter) (string, []any) {
	cols := ""
	for i, c := range runColumns {
		if i > 0 {
			cols += ", "
		}
		cols += "r." + c
	}
	where, args := f.where()
	return "SELECT " + cols + " FROM runs r" + where + " ORDER BY r.started, r.id", args
}

// Format is an export format of the runs report.
type Format string

// Export formats.
const (
	CSV  Format = "csv"  // RFC 4180: header row, UTF-8, CRLF line ends, quotes where needed
	JSON Format = "json" // one JSON array of RunRow objects
)

// ExportOptions tune an export.
type ExportOptions struct {
	// BOM starts CSV output with a UTF-8 byte order mark, so that Excel
	// opened by double-click reads non-ASCII text right. Off by default:
	// every other CSV reader handles plain UTF-8, and some choke on a BOM.
	BOM bool
}

// ExportRuns writes the runs matching f to w as CSV or JSON, ordered by
// start time, and returns how many it wrote.
func (r *Reader) ExportRuns(ctx context.Context, w io.Writer, f Filter, format Format, opt ExportOptions) (int, error) {
	switch format {
	case CSV:
		return r.exportCSV(ctx, w, f, opt)
	case JSON:
		return r.exportJSON(ctx, w, f)
	}
	return 0, fmt.Errorf("export format %q: want csv or json", format)
}

// exportCSV streams runs as CSV. Reading (SQLite) and writing (quoting,
// output) run on two goroutines, handing over batches of rows, so a large
// export takes about as long as SQLite needs to read the table.
func (r *Reader) exportCSV(ctx context.Context, w io.Writer, f Filter, opt ExportOptions) (int, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	if opt.BOM {
		bw.WriteString("\ufeff")
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(runColumns); err != nil {
		return 0, fmt.Errorf("write csv: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const rowsPerBatch = 512
	width := len(runColumns)
	full := make(chan []string, 4)
	free := make(chan []string, 6)
	for range cap(free) {
		free <- make([]string, 0, rowsPerBatch*width)
	}
	werr := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			for i := 0; err == nil && i < len(b); i += width {
				err = cw.Write(b[i : i+width])
			}
			free <- b[:0]
			if err != nil {
				cancel()
			}
		}
		werr <- err
	}()
	batch := <-free
	n, err := r.scanRawRuns(ctx, f, func(v []driver.Value) error {
		for _, x := range v {
			batch = append(batch, cellOf(x))
		}
		if len(batch) == cap(batch) {
			full <- batch
			select {
			case batch = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		full <- batch
	}
	close(full)
	if e := <-werr; e != nil {
		return n, fmt.Errorf("write csv: %w", e)
	}
	if err != nil {
		return n, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write csv: %w", err)
	}
	return n, nil
}

// cellOf renders a driver value as a CSV cell. Text that a spreadsheet
// would evaluate as a formula — a unit's answer to AT+CGMM, an operator's
// name, a tool's message — is neutralised with a leading ' (OWASP, "CSV
// Injection"). Numbers (SQLite INTEGER and REAL: seconds, attempt) are
// never text here, so a negative one stays a number.
func cellOf(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return neutralise(x)
	case []byte:
		return neutralise(string(x))
	}
	return textOf(v)
}

// neutralise prefixes s with ' when it starts with a character that makes
// Excel, LibreOffice or Sheets read the cell as a formula.
func neutralise(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// textOf renders a driver value as CSV text (NULL is empty).
func textOf(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// scanRawRuns is scanRuns below database/sql's conversions, for exports:
// fn gets each row's driver values (string, int64, float64 or nil), in a
// slice reused between calls.
func (r *Reader) scanRawRuns(ctx context.Context, f Filter, fn func([]driver.Value) error) (int, error) {
	q, args := runQuery(f)
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("query runs: %w", err)
	}
	defer conn.Close()
	n := 0
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the sqlite driver cannot query directly")
		}
		rows, err := qc.QueryContext(ctx, q, named)
		if err != nil {
			return fmt.Errorf("query runs: %w", err)
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		for {
			err := rows.Next(dest)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read runs: %w", err)
			}
			if err := fn(dest); err != nil {
				return err
			}
			n++
		}
	})
	return n, err
}

// scanRuns calls fn for every run matching f with its columns as text (NULL
// reads as not Valid). The slice is reused between calls.
func (r *Reader) scanRuns(ctx context.Context, f Filter, fn func([]sql.NullString) error) (int, error) {
	q, args := runQuery(f)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("query runs: %w", err)
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(runColumns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read runs: %w", err)
		}
		if err := fn(vals); err != nil {
			return n, fmt.Errorf("write run: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read runs: %w", err)
	}
	return n, nil
}

func (r *Reader) exportJSON(ctx context.Context, w io.Writer, f Filter) (int, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString("[")
	sep := "\n"
	n, err := r.scanRuns(ctx, f, func(v []sql.NullString) error {
		b, err := json.Marshal(runRowOf(v))
		if err != nil {
			return err
		}
		bw.WriteString(sep)
		sep = ",\n"
		_, err = bw.Write(b)
		return err
	})
	if err != nil {
		return n, err
	}
	bw.WriteString("\n]\n")
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write json: %w", err)
	}
	return n, nil
}

// runRowOf converts scanned columns (in runColumns order) to a RunRow.
func runRowOf(v []sql.NullString) RunRow {
	s := func(i int) string { return v[i].String }
	r := RunRow{ID: s(0), StationID: s(1), StationVersion: s(2), Slot: s(3), Probe: s(4), Operator: s(5),
		IMEI: s(6), ICCID: s(7), IMSI: s(8), ModemFW: s(9), Model: s(10), HWVersion: s(11), ModemUUID: s(12),
		FirmwareName: s(13), FirmwareSHA256: s(14), FlashTool: s(15), FlashVersion: s(16), Started: s(17),
		Outcome: station.Outcome(s(20)), Code: station.Code(s(21)), Step: s(22), Detail: s(23),
		PSKIdentity: s(25), PSKSHA256: s(26)}
	if v[18].Valid {
		e := v[18].String
		r.Ended = &e
	}
	if v[19].Valid {
		if f, err := strconv.ParseFloat(v[19].String, 64); err == nil {
			r.Seconds = &f
		}
	}
	if v[24].Valid {
		if a, err := strconv.ParseInt(v[24].String, 10, 64); err == nil {
			r.Attempt = &a
		}
	}
	return r
}

// StepRow is one step of a run.
type StepRow struct {
	Seq          int                `json:"seq"`
	Name         string             `json:"name"`
	Started      string             `json:"started"`
	Ended        string             `json:"ended"`
	Seconds      float64            `json:"seconds"`
	Outcome      station.Outcome    `json:"outcome"`
	Code         station.Code       `json:"code"`
	Detail       string             `json:"detail"`
	Measurements map[string]float64 `json:"measurements,omitempty"`
}

// UnitRun is one run of a unit with its steps.
type UnitRun struct {
	RunRow
	Steps []StepRow `json:"steps"`
}

// Unit returns every run of the unit with this IMEI, oldest first.
func (r *Reader) Unit(ctx context.Context, imei string) ([]UnitRun, error) {
	var out []UnitRun
	_, err := r.scanRuns(ctx, Filter{IMEI: imei}, func(v []sql.NullString) error {
		out = append(out, UnitRun{RunRow: runRowOf(v)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Steps, err = r.steps(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Reader) steps(ctx context.Context, run string) ([]StepRow, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT seq, name, started, ended, seconds, outcome, code, detail, measurements
		FROM steps WHERE run_id = ? ORDER BY seq`, run)
	if err != nil {
		return nil, fmt.Errorf("read steps of run %s: %w", run, err)
	}
	defer rows.Close()
	out := []StepRow{}
	for rows.Next() {
		var s StepRow
		var m string
		if err := rows.Scan(&s.Seq, &s.Name, &s.Started, &s.Ended, &s.Seconds, &s.Outcome, &s.Code, &s.Detail, &m); err != nil {
			return nil, fmt.Errorf("read steps of run %s: %w", run, err)
		}
		if m != "" && m != "{}" {
			if err := json.Unmarshal([]byte(m), &s.Measurements); err != nil {
				return nil, fmt.Errorf("measurements of run %s step %s: %w", run, s.Name, err)
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read steps of run %s: %w", run, err)
	}
	return out, nil
}

// ErrNoTranscript is returned by Transcript for a run without one (still
// running, or closed by crash recovery).
var ErrNoTranscript = errors.New("no transcript")

// Transcript returns the run's transcript as text.
func (r *Reader) Transcript(ctx context.Context, run string) (string, error) {
	var gz []byte
	err := r.db.QueryRowContext(ctx, `SELECT gz FROM transcripts WHERE run_id = ?`, run).Scan(&gz)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("run %s: %w", run, ErrNoTranscript)
	}
	if err != nil {
		return "", fmt.Errorf("read transcript of run %s: %w", run, err)
	}
	return gunzip(gz)
}
