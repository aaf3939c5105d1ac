package station

import (
	"context"
	"time"
)

// Journal is the station's local, durable record of finished runs, read in
// order by the replicator that ships them to the line's central store
// ([central]). records implements it; central consumes it.
type Journal interface {
	// Finished returns up to limit finished runs (any outcome but RUNNING)
	// at or after journal position from, in position order. Positions
	// follow the order runs started, so a run that finishes late appears
	// behind later ones: Holdback tells the reader where to resume.
	Finished(ctx context.Context, from int64, limit int, transcripts bool) (JournalPage, error)
	// Pending counts the finished runs at or after position from.
	Pending(ctx context.Context, from int64) (int, error)
	// Finishes counts the runs this process finished in the journal so
	// far, each counted once its commit is visible to Finished and
	// Pending. It must not block: it tells a reader, between two reads,
	// how many runs finished since the last.
	Finishes() int64
}

// JournalPage is one read of the journal.
type JournalPage struct {
	Runs []FinishedRun
	// Holdback is the position of the oldest run at or after from that is
	// still RUNNING (0 when there is none): every finished run before it
	// has been returned by this or an earlier page.
	Holdback int64
	// End is the position after the last run in the journal.
	End int64
}

// FinishedRun is one finished run as the journal holds it.
type FinishedRun struct {
	Pos        int64
	Run        RunRecord
	Steps      []JournalStep
	Transcript []byte // gzip-compressed, redacted; nil when not asked or absent
}

// RunRecord is a run's columns, the same for every store that keeps runs
// (the fields of records.RunRow).
type RunRecord struct {
	ID             string   `json:"id"`
	StationID      string   `json:"station_id"`
	StationVersion string   `json:"station_version"`
	Slot           string   `json:"slot"`
	Probe          string   `json:"probe"`
	Operator       string   `json:"operator"`
	IMEI           string   `json:"imei"`
	ICCID          string   `json:"iccid"`
	IMSI           string   `json:"imsi"`
	ModemFW        string   `json:"modem_fw"`
	Model          string   `json:"model"`
	HWVersion      string   `json:"hw_version"`
	ModemUUID      string   `json:"modem_uuid"`
	FirmwareName   string   `json:"fw_name"`
	FirmwareSHA256 string   `json:"fw_sha256"`
	FlashTool      string   `json:"flash_tool"`
	FlashVersion   string   `json:"flash_version"`
	Started        string   `json:"started"`
	Ended          *string  `json:"ended"`
	Seconds        *float64 `json:"seconds"`
	Outcome        Outcome  `json:"outcome"`
	Code           Code     `json:"code"`
	Step           string   `json:"step"`
	Detail         string   `json:"detail"`
	Attempt        *int64   `json:"attempt"`
	PSKIdentity    string   `json:"psk_identity"`
	PSKSHA256      string   `json:"psk_sha256"`
}

// JournalStep is one finished step of a run (the fields of records.StepRow).
type JournalStep struct {
	Seq          int                `json:"seq"`
	Name         string             `json:"name"`
	Started      string             `json:"started"`
	Ended        string             `json:"ended"`
	Seconds      float64            `json:"seconds"`
	Outcome      Outcome            `json:"outcome"`
	Code         Code               `json:"code"`
	Detail       string             `json:"detail"`
	Measurements map[string]float64 `json:"measurements,omitempty"`
}

// Tally is one group of finished runs as the reports count them, whichever
// store counted them (the SQLite records' rollups, the central store's
// query): FirstTested counts units' first runs, FirstPass those that
// passed it, EventuallyPassed units that passed at some run.
type Tally struct {
	Station, Slot, Operator string
	Outcome                 Outcome
	Code                    Code
	Step                    StepName
	Runs, FirstTested       int
	FirstPass               int
	EventuallyPassed        int
	Retests, Unidentified   int
}

// CycleCount is one bucket of a cycle-time histogram (the records'
// buckets); Name "*" is the whole run.
type CycleCount struct {
	Name   string
	Bucket int
	N      int64
}

// RollupDay is the UTC day number (days since 1970-01-01, rounded down)
// that both stores' daily rollups are keyed by, so that the SQLite records
// and the central store put a run on the same day.
func RollupDay(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u%86400 < 0 {
		d--
	}
	return d
}
