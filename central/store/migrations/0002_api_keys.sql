-- Operator API keys (the REST API, central/api/auth.py). Only a SHA-256 of each key is kept:
-- keys are 256-bit random strings, so a fast hash is enough (docs/decisions/0006).
-- A key is revoked, never deleted: the audit log names key ids, and they must stay readable.

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    name TEXT,
    created_at {timestamp} NOT NULL,
    revoked_at {timestamp}
);

CREATE INDEX api_keys_active_role ON api_keys (role) WHERE revoked_at IS NULL;
