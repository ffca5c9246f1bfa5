-- TLS client certificates bound to a principal: an alternative to a bearer key. A certificate is
-- known by the SHA-256 of its DER encoding; the subject is kept for people reading the table.
CREATE TABLE client_certificates (
    fingerprint  BLOB PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    subject      TEXT NOT NULL,
    not_after    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX client_certificates_principal_idx ON client_certificates (principal_id, created_at);
