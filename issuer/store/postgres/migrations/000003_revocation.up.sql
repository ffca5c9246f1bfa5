-- Revocation as published: the revocations table of 000001 gains what the EU DCC revocation list
-- needs per certificate: the kid of the DSC that signed it, its environment and its expiry
-- (after which it need not be listed). Rows from before (none were written) take them from
-- their certificate.
ALTER TABLE revocations
    ADD COLUMN kid bytea,
    ADD COLUMN environment text,
    ADD COLUMN expires_at timestamptz;
UPDATE revocations r SET kid = coalesce(c.kid, ''::bytea), environment = c.environment, expires_at = c.expires_at
    FROM certificates c WHERE c.uvci = r.uvci;
ALTER TABLE revocations
    ALTER COLUMN kid SET NOT NULL,
    ALTER COLUMN environment SET NOT NULL,
    ALTER COLUMN expires_at SET NOT NULL;
-- The published list: revocations of certificates not yet expired.
CREATE INDEX revocations_expires_idx ON revocations (expires_at);

-- Every DSC the service has signed with, so that the trust list keeps naming retired ones.
CREATE TABLE signing_certificates (
    thumbprint    bytea PRIMARY KEY, -- SHA-256 of the DER
    environment   text NOT NULL,
    certificate   bytea NOT NULL,
    first_used_at timestamptz NOT NULL
);
