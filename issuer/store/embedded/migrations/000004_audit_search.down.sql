DROP INDEX audit_events_principal_outcome_idx;
DROP INDEX audit_events_source_idx;
DROP INDEX audit_events_environment_idx;
DROP INDEX audit_events_kind_idx;
DROP TABLE audit_event_codes;
ALTER TABLE audit_events DROP COLUMN problems;
