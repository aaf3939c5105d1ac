-- Schema 1: runs, steps, transcripts, unit history and the report rollups.
-- Times are TEXT in UTC, fixed width (2006-01-02T15:04:05.000Z), so that text
-- order is time order and the file reads well in the sqlite3 shell.

-- One row per run, inserted RUNNING when the run starts.
CREATE TABLE runs (
    id              TEXT    NOT NULL UNIQUE,          -- UUID v7, made by the engine
    station_id      TEXT    NOT NULL,
    station_version TEXT    NOT NULL DEFAULT '',
    slot            TEXT    NOT NULL,
    probe           TEXT    NOT NULL DEFAULT '',      -- J-Link serial
    operator        TEXT    NOT NULL DEFAULT '',
    imei            TEXT    NOT NULL DEFAULT '',
    iccid           TEXT    NOT NULL DEFAULT '',
    imsi            TEXT    NOT NULL DEFAULT '',
    modem_fw        TEXT    NOT NULL DEFAULT '',
    model           TEXT    NOT NULL DEFAULT '',
    hw_version      TEXT    NOT NULL DEFAULT '',
    modem_uuid      TEXT    NOT NULL DEFAULT '',
    fw_name         TEXT    NOT NULL DEFAULT '',
    fw_sha256       TEXT    NOT NULL DEFAULT '',
    flash_tool      TEXT    NOT NULL DEFAULT '',
    flash_version   TEXT    NOT NULL DEFAULT '',
    started         TEXT    NOT NULL,
    ended           TEXT,                             -- NULL while RUNNING
    seconds         REAL,                             -- ended - started
    outcome         TEXT    NOT NULL DEFAULT 'RUNNING'
                    CHECK (outcome IN ('RUNNING', 'PASS', 'FAIL', 'ERROR', 'ABORTED')),
    code            TEXT    NOT NULL DEFAULT '',      -- failure code, '' for PASS
    step            TEXT    NOT NULL DEFAULT '',      -- the failing step (or the step it was in)
    detail          TEXT    NOT NULL DEFAULT '',
    attempt         INTEGER,                          -- nth finished run of this IMEI; NULL without IMEI
    psk_identity    TEXT    NOT NULL DEFAULT '',
    psk_sha256      TEXT    NOT NULL DEFAULT '',      -- the digest the modem reported, never the key
    current_step    TEXT    NOT NULL DEFAULT '',      -- where a RUNNING run is now
    updated         TEXT    NOT NULL                  -- last event recorded
);
CREATE INDEX runs_started ON runs (started, id);
CREATE INDEX runs_imei ON runs (imei, started) WHERE imei <> '';
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'RUNNING';
CREATE INDEX runs_retests ON runs (started) WHERE attempt > 1;

-- One row per finished step.
CREATE TABLE steps (
    run_id       TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    started      TEXT    NOT NULL,
    ended        TEXT    NOT NULL,
    seconds      REAL    NOT NULL,
    outcome      TEXT    NOT NULL,
    code         TEXT    NOT NULL DEFAULT '',
    detail       TEXT    NOT NULL DEFAULT '',
    measurements TEXT    NOT NULL DEFAULT '{}',       -- JSON object of numbers
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- The bounded, redacted transcript of a run, gzip-compressed.
CREATE TABLE transcripts (
    run_id    TEXT    NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    lines     INTEGER NOT NULL,                       -- lines kept
    cut_lines INTEGER NOT NULL,                       -- lines dropped between head and tail
    bytes     INTEGER NOT NULL,                       -- uncompressed size kept
    gz        BLOB    NOT NULL
);

-- The history of every unit that was identified.
CREATE TABLE units (
    imei          TEXT    NOT NULL PRIMARY KEY,
    runs          INTEGER NOT NULL,
    first_run     TEXT    NOT NULL,
    first_started TEXT    NOT NULL,
    passed        INTEGER NOT NULL DEFAULT 0,         -- 1 once any run passed
    last_run      TEXT    NOT NULL,
    last_outcome  TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX units_first_started ON units (first_started);

-- Finished runs counted per UTC day of their start, kept in the same
-- transaction as the verdict; reports add these up instead of scanning runs.
CREATE TABLE daily (
    day               INTEGER NOT NULL,               -- days since 1970-01-01 UTC
    slot              TEXT    NOT NULL,
    operator          TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,
    code              TEXT    NOT NULL,
    step              TEXT    NOT NULL,
    runs              INTEGER NOT NULL DEFAULT 0,
    first_tested      INTEGER NOT NULL DEFAULT 0,     -- runs with attempt = 1
    first_pass        INTEGER NOT NULL DEFAULT 0,     -- attempt = 1 and PASS
    eventually_passed INTEGER NOT NULL DEFAULT 0,     -- attempt = 1 and the unit has passed since
    retests           INTEGER NOT NULL DEFAULT 0,     -- attempt > 1
    unidentified      INTEGER NOT NULL DEFAULT 0,     -- no IMEI (failed before identify)
    PRIMARY KEY (day, slot, operator, outcome, code, step)
) WITHOUT ROWID;

-- Cycle-time histograms of passing steps and passing runs per UTC day: one
-- blob per day holding a histogram per name (a step name, or '*' for the
-- whole run), so a verdict reads and writes one row.
CREATE TABLE cycle (
    day   INTEGER NOT NULL PRIMARY KEY,
    hists BLOB    NOT NULL
);
