DROP TABLE signing_certificates;
DROP INDEX revocations_expires_idx;
ALTER TABLE revocations DROP COLUMN expires_at;
ALTER TABLE revocations DROP COLUMN environment;
ALTER TABLE revocations DROP COLUMN kid;
