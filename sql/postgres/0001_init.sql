-- Kiln's store on PostgreSQL, shared by every node of a cluster. The same shape as the SQLite
-- store (`sql/`), plus what several nodes need: a revision per app, bumped by every change that
-- affects serving (nodes compare it with what they serve), and the nodes themselves.
-- Migrations are append-only: add a new file, never edit a landed one.

CREATE TABLE config (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- One counter for the whole cluster: a change's revision is greater than every earlier one's.
CREATE SEQUENCE app_revisions;

CREATE TABLE apps (
    kind           TEXT NOT NULL CHECK (kind IN ('service', 'function')),
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    jwt_check      BOOLEAN NOT NULL DEFAULT FALSE,
    permissions    TEXT NOT NULL DEFAULT '{}',   -- JSON object
    schema         TEXT,                         -- JSON object, or NULL
    limits         TEXT NOT NULL DEFAULT '{}',   -- JSON object
    isolation      TEXT,                         -- 'reuse' | 'request' | NULL (default)
    active_version BIGINT,
    revision       BIGINT NOT NULL DEFAULT nextval('app_revisions'),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Immutable: a row is written once per create/update of code or component and never changed.
CREATE TABLE app_versions (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('js', 'ts', 'component')),
    code       TEXT,          -- JavaScript or TypeScript source (format = 'js' | 'ts')
    component  BYTEA,         -- the uploaded component (format = 'component')
    sha256     TEXT NOT NULL, -- of the source or component; a node checks it before serving
    artifact   TEXT NOT NULL, -- cache key of the compiled artifact
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, name, version),
    FOREIGN KEY (kind, name) REFERENCES apps (kind, name) ON DELETE CASCADE
);

-- Every node that runs or ran against this database; live ones renew `last_seen` every second.
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY NOT NULL,
    address    TEXT NOT NULL,
    version    TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    serving    TEXT NOT NULL DEFAULT '{}'   -- JSON: {"service/name": version, ...}
);
