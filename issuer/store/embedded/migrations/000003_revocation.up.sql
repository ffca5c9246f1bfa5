-- Revocation as published: the revocations table of 000001 gains what the EU DCC revocation list
-- needs per certificate: the kid of the DSC that signed it, its environment and its expiry
-- (after which it need not be listed). Rows from before (none were written) take them from
-- their certificate.
ALTER TABLE revocations ADD COLUMN kid BLOB NOT NULL DEFAULT x'';
ALTER TABLE revocations ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE revocations ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE revocations SET kid = coalesce(c.kid, x''), environment = c.environment, expires_at = c.expires_at
    FROM certificates c WHERE c.uvci = revocations.uvci;
-- The published list: revocations of certificates not yet expired.
CREATE INDEX revocations_expires_idx ON revocations (expires_at);

-- Every DSC the service has signed with, so that the trust list keeps naming retired ones.
CREATE TABLE signing_certificates (
    thumbprint    BLOB PRIMARY KEY, -- SHA-256 of the DER
    environment   TEXT NOT NULL,
    certificate   BLOB NOT NULL,
    first_used_at INTEGER NOT NULL
) STRICT;
