-- Services and functions become one kind of row: an app with a `kind`, so that one code path and
-- plain parameterised SQL serve both. Versions keep their content format ('js' | 'component').

CREATE TABLE apps (
    kind           TEXT NOT NULL CHECK (kind IN ('service', 'function')),
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    enabled        INTEGER NOT NULL DEFAULT 1,
    jwt_check      INTEGER NOT NULL DEFAULT 0,
    permissions    TEXT NOT NULL DEFAULT '{}',   -- JSON object
    schema         TEXT,                         -- JSON object, or NULL
    limits         TEXT NOT NULL DEFAULT '{}',   -- JSON object
    isolation      TEXT,                         -- 'reuse' | 'request' | NULL (default)
    active_version INTEGER,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Immutable: a row is written once per create/update of code or component and never changed.
CREATE TABLE app_versions (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('js', 'component')),
    code       TEXT,          -- JavaScript source (format = 'js')
    component  BLOB,          -- the uploaded component (format = 'component')
    sha256     TEXT NOT NULL, -- of the source or component
    artifact   TEXT NOT NULL, -- cache key of the compiled artifact
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, name, version),
    FOREIGN KEY (kind, name) REFERENCES apps (kind, name) ON DELETE CASCADE
);

INSERT INTO apps
SELECT 'service', name, description, enabled, jwt_check, permissions, schema, limits, isolation,
       active_version, created_at, updated_at
FROM services;
INSERT INTO apps
SELECT 'function', name, description, enabled, jwt_check, permissions, schema, limits, isolation,
       active_version, created_at, updated_at
FROM functions;
INSERT INTO app_versions
SELECT 'service', name, version, kind, code, component, sha256, artifact, created_at
FROM service_versions;
INSERT INTO app_versions
SELECT 'function', name, version, kind, code, component, sha256, artifact, created_at
FROM function_versions;

DROP TABLE service_versions;
DROP TABLE function_versions;
DROP TABLE services;
DROP TABLE functions;
