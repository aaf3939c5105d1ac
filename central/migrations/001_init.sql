-- Schema 1 of the line-wide store: every station's finished runs, shipped
-- from each station's SQLite journal. Rows are only ever inserted (a
-- finished run never changes), keyed by the run's UUID, so shipping a run
-- twice changes nothing.

-- The columns the summary reads come first: a scan of every run then
-- stops unpacking each row after them (the identity, texts and digests
-- behind make most of a row's bytes).
CREATE TABLE runs (
    id              text        PRIMARY KEY,          -- the run's UUID, made by the engine
    station_id      text        NOT NULL,
    slot            text        NOT NULL,
    operator        text        NOT NULL DEFAULT '',
    outcome         text        NOT NULL CHECK (outcome IN ('PASS', 'FAIL', 'ERROR', 'ABORTED')),
    code            text        NOT NULL DEFAULT '',
    step            text        NOT NULL DEFAULT '',
    -- Line-wide facts kept up to date as runs arrive from any station:
    first_run       boolean     NOT NULL DEFAULT false, -- the earliest run of its IMEI on the line
    unit_passed     boolean     NOT NULL DEFAULT false, -- its IMEI has passed somewhere on the line
    identified      boolean     NOT NULL,             -- imei <> ''
    started         timestamptz NOT NULL,
    imei            text        NOT NULL DEFAULT '',
    station_version text        NOT NULL DEFAULT '',
    probe           text        NOT NULL DEFAULT '',
    iccid           text        NOT NULL DEFAULT '',
    imsi            text        NOT NULL DEFAULT '',
    modem_fw        text        NOT NULL DEFAULT '',
    model           text        NOT NULL DEFAULT '',
    hw_version      text        NOT NULL DEFAULT '',
    modem_uuid      text        NOT NULL DEFAULT '',
    fw_name         text        NOT NULL DEFAULT '',
    fw_sha256       text        NOT NULL DEFAULT '',
    flash_tool      text        NOT NULL DEFAULT '',
    flash_version   text        NOT NULL DEFAULT '',
    ended           timestamptz,
    seconds         double precision,
    detail          text        NOT NULL DEFAULT '',
    attempt         integer,                          -- the attempt number at its own station
    psk_identity    text        NOT NULL DEFAULT '',
    psk_sha256      text        NOT NULL DEFAULT '',  -- the digest the modem reported, never the key
    received        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX runs_started ON runs (started, id);
CREATE INDEX runs_imei ON runs (imei) WHERE imei <> '';

-- Steps and transcripts are written in the transaction that inserts their
-- run, by the replicator only; no foreign key, whose per-row check would
-- halve the catch-up rate after an outage.
CREATE TABLE steps (
    run_id       text             NOT NULL,
    seq          integer          NOT NULL,
    name         text             NOT NULL,
    started      timestamptz      NOT NULL,
    ended        timestamptz      NOT NULL,
    seconds      double precision NOT NULL,
    outcome      text             NOT NULL,
    code         text             NOT NULL DEFAULT '',
    detail       text             NOT NULL DEFAULT '',
    measurements jsonb            NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE transcripts (
    run_id text  PRIMARY KEY,
    gz     bytea NOT NULL                             -- gzip, redacted at the station
);

-- One row per IMEI: the line-wide unit history the line rules consult.
CREATE TABLE units (
    imei          text        PRIMARY KEY,
    runs          integer     NOT NULL,
    first_run     text        NOT NULL,
    first_started timestamptz NOT NULL,
    passed        boolean     NOT NULL
);

-- Cycle-time histograms of passing runs ('*') and passing steps per UTC day
-- of the run's start and station, in the buckets of records/hist.go, so the
-- summary adds up counts instead of sorting millions of durations.
CREATE TABLE cycle (
    day        integer NOT NULL,                      -- days since 1970-01-01 UTC
    station_id text    NOT NULL,
    name       text    NOT NULL,
    bucket     integer NOT NULL,
    n          bigint  NOT NULL,
    PRIMARY KEY (day, station_id, name, bucket)
);

-- records/hist.go: bucket 0 below 1 ms, then log buckets growing by 2 %.
CREATE FUNCTION cycle_bucket(sec double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN sec IS NULL OR sec < 0.001 THEN 0
                ELSE least(1 + floor(ln(sec / 0.001) / ln(1.02))::integer, 1099) END;

-- What each station has shipped, for `station report sync`.
CREATE TABLE stations (
    station_id text        PRIMARY KEY,
    runs       bigint      NOT NULL DEFAULT 0,
    last_ship  timestamptz NOT NULL
);
