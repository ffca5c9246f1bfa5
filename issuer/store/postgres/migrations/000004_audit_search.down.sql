DROP INDEX IF EXISTS audit_events_principal_outcome_idx;
DROP INDEX IF EXISTS audit_events_source_idx;
DROP INDEX IF EXISTS audit_events_environment_idx;
DROP INDEX IF EXISTS audit_events_kind_idx;
DROP INDEX IF EXISTS audit_events_codes_idx;
ALTER TABLE audit_events DROP COLUMN IF EXISTS problems;
