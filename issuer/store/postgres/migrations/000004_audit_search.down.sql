DROP INDEX IF EXISTS audit_events_principal_outcome_idx;
DROP INDEX IF EXISTS audit_events_source_idx;
DROP INDEX IF EXISTS audit_events_environment_idx;
DROP INDEX IF EXISTS audit_events_kind_idx;
DROP TABLE IF EXISTS audit_event_codes;
ALTER TABLE audit_events DROP COLUMN IF EXISTS problems;
