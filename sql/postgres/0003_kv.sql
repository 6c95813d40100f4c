-- Key-value stores granted to apps (`"kv": [...]`), shared by every node: see the SQLite
-- migration of the same name. Keys sort bytewise (`COLLATE "C"`), as on SQLite, so listing by
-- prefix and cursor means the same on both.
CREATE TABLE kv (
    kind       TEXT NOT NULL,
    app        TEXT NOT NULL,
    store      TEXT NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      BYTEA NOT NULL,
    metadata   TEXT,
    expires_at BIGINT,
    size       BIGINT NOT NULL,
    PRIMARY KEY (kind, app, store, key)
);

CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE kv_usage (
    kind  TEXT NOT NULL,
    app   TEXT NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, app)
);
