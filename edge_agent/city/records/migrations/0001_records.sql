-- The city's store of record. Applied once by `edge-agent records migrate` (or by the first ingest worker), in
-- one transaction, under an advisory lock.

-- Trigram indexes for partial plate searches (a trusted extension: the database's owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Reads, one partition per UTC day of capture (captured_ms): retention drops whole partitions, so purged plate
-- text leaves the database files with them. The capture time is the device's first sighting when its clock was
-- synchronised (never later than receipt), else the time the city received the read.
CREATE TABLE reads (
    read_id BYTEA NOT NULL,
    device_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    camera TEXT NOT NULL,
    plate TEXT NOT NULL,
    confidence REAL NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    frames INTEGER NOT NULL,
    direction TEXT NOT NULL,
    clock_synced BOOLEAN NOT NULL,
    box TEXT,
    crop_jpeg BYTEA,
    models TEXT,
    recipient_key_id BYTEA NOT NULL,
    signer_key_id BYTEA NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    captured_ms BIGINT NOT NULL,
    PRIMARY KEY (device_id, read_id, captured_ms)
) PARTITION BY RANGE (captured_ms);
CREATE SCHEMA reads_days;  -- the day partitions (schema.PARTITION_SCHEMA)
CREATE INDEX reads_plate ON reads (plate, captured_ms);
CREATE INDEX reads_plate_trgm ON reads USING gin (plate gin_trgm_ops);
CREATE INDEX reads_camera ON reads (camera, captured_ms);
CREATE INDEX reads_device_seq ON reads (device_id, seq);

-- Every (device, camera) that has sent a read: what a search may name, without scanning the reads.
CREATE TABLE cameras (
    device_id TEXT NOT NULL,
    camera TEXT NOT NULL,
    first_seen_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, camera)
);

-- Reads a legal hold keeps past retention: copied here from their partition just before it is dropped.
CREATE TABLE held_reads (LIKE reads INCLUDING DEFAULTS, PRIMARY KEY (device_id, read_id, captured_ms));
CREATE INDEX held_reads_plate ON held_reads (plate, captured_ms);

CREATE TABLE holds (
    id BIGSERIAL PRIMARY KEY,
    case_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    released_by TEXT,
    released_at TIMESTAMPTZ
);
CREATE TABLE hold_items (
    hold_id BIGINT NOT NULL REFERENCES holds (id),
    device_id TEXT NOT NULL,
    read_id BYTEA NOT NULL,
    captured_ms BIGINT NOT NULL,
    PRIMARY KEY (hold_id, device_id, read_id, captured_ms)
);
CREATE INDEX hold_items_read ON hold_items (device_id, read_id, captured_ms);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('investigator', 'supervisor', 'auditor', 'administrator')),
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT false,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMPTZ,
    last_totp_step BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);
-- Server-side sessions: the cookie holds a random token, the table only its SHA-256.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The audit trail: append-only, each entry carrying the hash of the one before.
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    detail JSONB NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- A supervisor's verdict on a search (the search's audit entry), itself audited.
CREATE TABLE reviews (
    audit_id BIGINT PRIMARY KEY REFERENCES audit_log (id),
    verdict TEXT NOT NULL CHECK (verdict IN ('approved', 'flagged')),
    note TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    reviewed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
