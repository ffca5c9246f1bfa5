-- Initial schema, the same tables and indexes as the PostgreSQL store. Times are INTEGER
-- microseconds since 1970-01-01 UTC; lists are JSON arrays of strings. Tables are STRICT so that a
-- value of the wrong type is refused rather than stored. The personnummer is never stored:
-- subject_key is a keyed hash computed by the issuer, subject_masked its masked form.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT '',
    kinds       TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    disabled_at INTEGER
) STRICT;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    hash         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX api_keys_principal_idx ON api_keys (principal_id, created_at, id);

CREATE TABLE certificates (
    uvci            TEXT PRIMARY KEY,
    provider_id     TEXT NOT NULL,
    identifier      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    environment     TEXT NOT NULL,
    content_hash    BLOB,
    subject_key     BLOB,
    hc1             TEXT NOT NULL,
    kid             BLOB,
    identity_source TEXT NOT NULL,
    delivery        TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    UNIQUE (provider_id, identifier)
) STRICT;
CREATE INDEX certificates_subject_idx ON certificates (subject_key, issued_at DESC, uvci DESC)
    WHERE subject_key IS NOT NULL;

CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,
    at              INTEGER NOT NULL,
    request_id      TEXT NOT NULL,
    principal_id    TEXT NOT NULL,
    role            TEXT NOT NULL,
    route           TEXT NOT NULL,
    status          INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    codes           TEXT NOT NULL DEFAULT '[]',
    kind            TEXT NOT NULL,
    environment     TEXT NOT NULL,
    identity_source TEXT NOT NULL,
    uvci            TEXT NOT NULL,
    subject_masked  TEXT NOT NULL,
    subject_key     BLOB,
    latency_ns      INTEGER NOT NULL,
    notes           TEXT NOT NULL DEFAULT '[]'
) STRICT;
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_request_idx ON audit_events (request_id, at DESC, id DESC);
CREATE INDEX audit_events_principal_idx ON audit_events (principal_id, at DESC, id DESC);
CREATE INDEX audit_events_outcome_idx ON audit_events (outcome, at DESC, id DESC);
CREATE INDEX audit_events_uvci_idx ON audit_events (uvci, at DESC, id DESC) WHERE uvci <> '';
CREATE INDEX audit_events_subject_idx ON audit_events (subject_key, at DESC, id DESC)
    WHERE subject_key IS NOT NULL;

CREATE TABLE request_records (
    principal_id TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    body_hash    BLOB NOT NULL,
    status       INTEGER NOT NULL,
    uvci         TEXT NOT NULL,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal_id, request_id)
) STRICT;
CREATE INDEX request_records_created_idx ON request_records (created_at);

CREATE TABLE revocations (
    uvci             TEXT PRIMARY KEY REFERENCES certificates (uvci),
    reason           TEXT NOT NULL,
    revoked_at       INTEGER NOT NULL,
    revoked_by       TEXT NOT NULL,
    uci_hash         BLOB,
    country_uci_hash BLOB,
    signature_hash   BLOB
) STRICT;
CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at DESC, uvci DESC);

CREATE TABLE status_incidents (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('incident', 'notice')),
    dependency TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    opened_at  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER,
    until      INTEGER
) STRICT;
CREATE INDEX status_incidents_opened_idx ON status_incidents (opened_at DESC, id DESC);
CREATE INDEX status_incidents_open_idx ON status_incidents (dependency) WHERE closed_at IS NULL;
