-- The first schema. One file per migration, numbered, never edited once released: a change is
-- a new file. SQL that both SQLite and PostgreSQL run; {serial}, {timestamp} and {json} are the
-- three words they spell differently (central/store/sqlite.py and postgres.py say how).
-- Statements end with ';' at the end of a line.

CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    registration_status TEXT NOT NULL,
    vendor TEXT,
    model TEXT,
    serial_number TEXT,
    charge_box_serial_number TEXT,
    firmware_version TEXT,
    iccid TEXT,
    imsi TEXT,
    meter_type TEXT,
    meter_serial_number TEXT,
    diagnostics_status TEXT,
    firmware_status TEXT,
    password_hash TEXT,
    last_seen {timestamp},
    created_at {timestamp} NOT NULL,
    updated_at {timestamp} NOT NULL
);

CREATE TABLE connectors (
    station_id TEXT NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT NOT NULL,
    info TEXT,
    vendor_id TEXT,
    vendor_error_code TEXT,
    updated_at {timestamp} NOT NULL,
    PRIMARY KEY (station_id, connector_id)
);

-- id_tag_key is the case-folded idTag (computed in Python, the same on both databases):
-- "04a1b2" and "04A1B2" are one token.
CREATE TABLE tokens (
    id_tag_key TEXT PRIMARY KEY,
    id_tag TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at {timestamp},
    parent_id_tag TEXT,
    created_at {timestamp} NOT NULL,
    updated_at {timestamp} NOT NULL
);

-- A station that replays a StartTransaction (same connector, idTag, timestamp, meterStart) gets
-- the same transactionId: the UNIQUE constraint is what an INSERT ... ON CONFLICT returns to.
-- Transactions keep a station from being deleted (the foreign key has no ON DELETE).
CREATE TABLE transactions (
    id {serial},
    station_id TEXT NOT NULL REFERENCES stations (id),
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    id_tag_key TEXT NOT NULL,
    started_at {timestamp} NOT NULL,
    meter_start BIGINT NOT NULL,
    reservation_id INTEGER,
    stopped_at {timestamp},
    meter_stop BIGINT,
    stop_reason TEXT,
    stop_id_tag TEXT,
    created_at {timestamp} NOT NULL,
    updated_at {timestamp} NOT NULL,
    CONSTRAINT transactions_start_once
        UNIQUE (station_id, connector_id, id_tag, started_at, meter_start)
);

CREATE INDEX transactions_started_at ON transactions (started_at);

CREATE INDEX transactions_id_tag ON transactions (id_tag_key, started_at);

CREATE INDEX transactions_open ON transactions (station_id, connector_id)
    WHERE stopped_at IS NULL;

-- phase and location are '' when the station gave none, so that the UNIQUE constraint (NULLs
-- never clash) also drops a replayed MeterValues.
CREATE TABLE meter_samples (
    id {serial},
    transaction_id BIGINT NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    sampled_at {timestamp} NOT NULL,
    measurand TEXT NOT NULL,
    phase TEXT NOT NULL,
    location TEXT NOT NULL,
    context TEXT NOT NULL,
    unit TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    CONSTRAINT meter_samples_once
        UNIQUE (transaction_id, sampled_at, measurand, phase, location, context)
);

-- No foreign keys: the record of what an operator did outlives the station and the key.
CREATE TABLE audit_log (
    id {serial},
    at {timestamp} NOT NULL,
    key_id TEXT,
    station_id TEXT,
    command TEXT NOT NULL,
    payload {json},
    result {json}
);

CREATE INDEX audit_log_station ON audit_log (station_id, id);

CREATE INDEX audit_log_at ON audit_log (at);
