-- Audit search: the answer a refused request got, and an index for every filter, each ordered
-- like the results (newest first by at, id).

-- The problems a refused or failed request was answered with (JSON list); NULL when none.
ALTER TABLE audit_events ADD COLUMN problems TEXT;

-- One row per problem code of an event, so that a search by code walks an index in result order
-- (codes itself is a JSON list). Written with the event, deleted with it.
CREATE TABLE audit_event_codes (
    code     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (code, at, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_event_codes_event_idx ON audit_event_codes (event_id);
INSERT OR IGNORE INTO audit_event_codes (code, at, event_id)
    SELECT j.value, e.at, e.id FROM audit_events e, json_each(e.codes) j;

CREATE INDEX audit_events_kind_idx ON audit_events (kind, at DESC, id DESC);
CREATE INDEX audit_events_environment_idx ON audit_events (environment, at DESC, id DESC);
CREATE INDEX audit_events_source_idx ON audit_events (identity_source, at DESC, id DESC);
CREATE INDEX audit_events_principal_outcome_idx ON audit_events (principal_id, outcome, at DESC, id DESC);
