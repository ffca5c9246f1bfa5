-- Initial schema. Times are timestamptz (microseconds); identifiers compared byte-wise (COLLATE "C").
-- The personnummer is never stored: subject_key is a keyed hash computed by the issuer,
-- subject_masked its masked form (19121212****).

CREATE TABLE principals (
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL,
    environment text NOT NULL DEFAULT '',
    kinds       text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz,
    CONSTRAINT principals_name_key UNIQUE (name)
);

CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    principal_id text COLLATE "C" NOT NULL REFERENCES principals (id),
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_principal_idx ON api_keys (principal_id, created_at, id);

-- provider_id is not a foreign key: a certificate keeps the provider id it was issued under, and
-- the issuer has already authenticated the provider before it records anything.
CREATE TABLE certificates (
    uvci            text COLLATE "C" PRIMARY KEY,
    provider_id     text COLLATE "C" NOT NULL,
    identifier      text COLLATE "C" NOT NULL,
    kind            text NOT NULL,
    environment     text NOT NULL,
    content_hash    bytea,
    subject_key     bytea,
    hc1             text NOT NULL,
    kid             bytea,
    identity_source text NOT NULL,
    delivery        text NOT NULL,
    request_id      text NOT NULL,
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT certificates_provider_identifier_key UNIQUE (provider_id, identifier)
);
-- A citizen's certificates, newest first.
CREATE INDEX certificates_subject_idx ON certificates (subject_key, issued_at DESC, uvci DESC)
    WHERE subject_key IS NOT NULL;

-- Every request, accepted or rejected. Searched newest first with keyset paging on (at, id); each
-- support filter has an index that ends in (at DESC, id DESC) so a page is one index range scan.
CREATE TABLE audit_events (
    id              text COLLATE "C" PRIMARY KEY,
    at              timestamptz NOT NULL,
    request_id      text COLLATE "C" NOT NULL,
    principal_id    text COLLATE "C" NOT NULL,
    role            text NOT NULL,
    route           text NOT NULL,
    status          integer NOT NULL,
    outcome         text NOT NULL,
    codes           text[] NOT NULL DEFAULT '{}',
    kind            text NOT NULL,
    environment     text NOT NULL,
    identity_source text NOT NULL,
    uvci            text COLLATE "C" NOT NULL,
    subject_masked  text NOT NULL,
    subject_key     bytea,
    latency_ns      bigint NOT NULL,
    notes           text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_request_idx ON audit_events (request_id, at DESC, id DESC);
CREATE INDEX audit_events_principal_idx ON audit_events (principal_id, at DESC, id DESC);
CREATE INDEX audit_events_outcome_idx ON audit_events (outcome, at DESC, id DESC);
CREATE INDEX audit_events_uvci_idx ON audit_events (uvci, at DESC, id DESC) WHERE uvci <> '';
CREATE INDEX audit_events_subject_idx ON audit_events (subject_key, at DESC, id DESC)
    WHERE subject_key IS NOT NULL;

-- Client-given X-Request-IDs, for replay and reuse detection.
CREATE TABLE request_records (
    principal_id text COLLATE "C" NOT NULL,
    request_id   text COLLATE "C" NOT NULL,
    body_hash    bytea NOT NULL,
    status       integer NOT NULL,
    uvci         text COLLATE "C" NOT NULL,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (principal_id, request_id)
);
-- For purging old records by age.
CREATE INDEX request_records_created_idx ON request_records (created_at);

-- Revoked certificates. The hash columns hold the EU DCC revocation hash types (UCI,
-- country code + UCI, signature) so that a revocation list can be published without the UVCI.
CREATE TABLE revocations (
    uvci             text COLLATE "C" PRIMARY KEY REFERENCES certificates (uvci),
    reason           text NOT NULL,
    revoked_at       timestamptz NOT NULL,
    revoked_by       text COLLATE "C" NOT NULL,
    uci_hash         bytea,
    country_uci_hash bytea,
    signature_hash   bytea
);
CREATE INDEX revocations_revoked_at_idx ON revocations (revoked_at DESC, uvci DESC);

-- Incidents and notices shown on /status and in the status feed.
CREATE TABLE status_incidents (
    id         text COLLATE "C" PRIMARY KEY,
    kind       text NOT NULL,            -- 'incident' or 'notice'
    dependency text NOT NULL,            -- e.g. 'register', 'store', 'signing'; '' for the service
    title      text NOT NULL,
    body       text NOT NULL,
    opened_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    closed_at  timestamptz,
    until      timestamptz,              -- notices: shown until then (planned maintenance end)
    CONSTRAINT status_incidents_kind_check CHECK (kind IN ('incident', 'notice'))
);
CREATE INDEX status_incidents_opened_idx ON status_incidents (opened_at DESC, id DESC);
CREATE INDEX status_incidents_open_idx ON status_incidents (dependency) WHERE closed_at IS NULL;
