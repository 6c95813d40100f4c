-- Kiln's store. Migrations are append-only: add a new file, never edit a landed one.
--
-- Services and functions have the same shape (a function has no use for `jwt_check`, `schema`
-- or `isolation`, a service has no use for `description`), so that one code path handles both.

CREATE TABLE config (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE services (
    name           TEXT PRIMARY KEY NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    enabled        INTEGER NOT NULL DEFAULT 1,
    jwt_check      INTEGER NOT NULL DEFAULT 0,
    permissions    TEXT NOT NULL DEFAULT '{}',   -- JSON object
    schema         TEXT,                         -- JSON object, or NULL
    limits         TEXT NOT NULL DEFAULT '{}',   -- JSON object
    isolation      TEXT,                         -- 'reuse' | 'request' | NULL (default)
    active_version INTEGER,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

-- Immutable: a row is written once per create/update of code or component and never changed.
CREATE TABLE service_versions (
    name       TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('js', 'component')),
    code       TEXT,          -- JavaScript source (kind = 'js')
    component  BLOB,          -- the uploaded component (kind = 'component')
    sha256     TEXT NOT NULL, -- of the source or component
    artifact   TEXT NOT NULL, -- cache key of the compiled artifact
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE functions (
    name           TEXT PRIMARY KEY NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    enabled        INTEGER NOT NULL DEFAULT 1,
    jwt_check      INTEGER NOT NULL DEFAULT 0,
    permissions    TEXT NOT NULL DEFAULT '{}',
    schema         TEXT,
    limits         TEXT NOT NULL DEFAULT '{}',
    isolation      TEXT,
    active_version INTEGER,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE function_versions (
    name       TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('js', 'component')),
    code       TEXT,
    component  BLOB,
    sha256     TEXT NOT NULL,
    artifact   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
