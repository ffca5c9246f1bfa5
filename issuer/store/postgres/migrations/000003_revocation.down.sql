DROP TABLE signing_certificates;
DROP INDEX revocations_expires_idx;
ALTER TABLE revocations DROP COLUMN expires_at, DROP COLUMN environment, DROP COLUMN kid;
