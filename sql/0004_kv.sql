-- Key-value stores granted to apps (`"kv": [...]`). Each app's stores are its own namespace:
-- rows are keyed by the app's kind and name, then the store's name. `size` is what a row counts
-- against the app's quota (key + value + metadata, in bytes); `kv_usage` keeps the sum per app,
-- and every write locks that row first, so writes of one app are serialised and the sum stays
-- exact. Expired rows (`expires_at`, seconds since the epoch) are never read and are deleted in
-- the background.
CREATE TABLE kv (
    kind       TEXT NOT NULL,
    app        TEXT NOT NULL,
    store      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    metadata   TEXT,
    expires_at INTEGER,
    size       INTEGER NOT NULL,
    PRIMARY KEY (kind, app, store, key)
);

CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE kv_usage (
    kind  TEXT NOT NULL,
    app   TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, app)
);
