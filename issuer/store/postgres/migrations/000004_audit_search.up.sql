-- Audit search: the answer a refused request got, and an index for every filter support staff
-- and providers search by, each ordered like the results (newest first by at, id) so a first
-- page reads a few index entries. On a large existing log, create these indexes beforehand with
-- CREATE INDEX CONCURRENTLY under the same names; IF NOT EXISTS then skips them here.

-- The problems a refused or failed request was answered with (JSON list of code, expression,
-- text, class); NULL when it was answered with a certificate.
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS problems jsonb;

-- One row per problem code of an event, written with it and deleted with it, so that a search by
-- code (alone, by provider, in a time range) walks an index in result order: a GIN index on the
-- codes array finds the events but not in order, and a common code then costs a sort of
-- hundreds of thousands of rows.
CREATE TABLE IF NOT EXISTS audit_event_codes (
    event_id     text COLLATE "C" NOT NULL,
    code         text COLLATE "C" NOT NULL,
    principal_id text COLLATE "C" NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (event_id, code)
);
INSERT INTO audit_event_codes (event_id, code, principal_id, at)
    SELECT e.id, c, e.principal_id, e.at FROM audit_events e, unnest(e.codes) AS c
    ON CONFLICT DO NOTHING;
CREATE INDEX IF NOT EXISTS audit_event_codes_code_idx ON audit_event_codes (code, at DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS audit_event_codes_principal_idx
    ON audit_event_codes (principal_id, code, at DESC, event_id DESC);

CREATE INDEX IF NOT EXISTS audit_events_kind_idx ON audit_events (kind, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_environment_idx ON audit_events (environment, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_source_idx ON audit_events (identity_source, at DESC, id DESC);
-- A provider's own refusals, the question vendors ask most.
CREATE INDEX IF NOT EXISTS audit_events_principal_outcome_idx
    ON audit_events (principal_id, outcome, at DESC, id DESC);
