-- Audit search: the answer a refused request got, and an index for every filter support staff
-- and providers search by, each ordered like the results (newest first by at, id) so a first
-- page reads a few index entries. On a large existing log, create these indexes beforehand with
-- CREATE INDEX CONCURRENTLY under the same names; IF NOT EXISTS then skips them here.

-- The problems a refused or failed request was answered with (JSON list of code, expression,
-- text, class); NULL when it was answered with a certificate.
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS problems jsonb;

-- Any of an event's problem codes (codes @> ARRAY[code]).
CREATE INDEX IF NOT EXISTS audit_events_codes_idx ON audit_events USING gin (codes);
CREATE INDEX IF NOT EXISTS audit_events_kind_idx ON audit_events (kind, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_environment_idx ON audit_events (environment, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_source_idx ON audit_events (identity_source, at DESC, id DESC);
-- A provider's own refusals, the question vendors ask most.
CREATE INDEX IF NOT EXISTS audit_events_principal_outcome_idx
    ON audit_events (principal_id, outcome, at DESC, id DESC);
