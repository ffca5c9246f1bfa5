-- TLS client certificates bound to a principal: an alternative to a bearer key. A certificate is
-- known by the SHA-256 of its DER encoding; the subject is kept for people reading the table.
CREATE TABLE client_certificates (
    fingerprint  bytea PRIMARY KEY,
    principal_id text COLLATE "C" NOT NULL REFERENCES principals (id),
    subject      text NOT NULL,
    not_after    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX client_certificates_principal_idx ON client_certificates (principal_id, created_at);
