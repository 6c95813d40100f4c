-- Versions may hold TypeScript source (format 'ts'); SQLite cannot alter a CHECK constraint, so
-- the table is rebuilt with the same rows.

CREATE TABLE app_versions_new (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('js', 'ts', 'component')),
    code       TEXT,          -- JavaScript or TypeScript source (format = 'js' | 'ts')
    component  BLOB,          -- the uploaded component (format = 'component')
    sha256     TEXT NOT NULL, -- of the source or component
    artifact   TEXT NOT NULL, -- cache key of the compiled artifact
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, name, version),
    FOREIGN KEY (kind, name) REFERENCES apps (kind, name) ON DELETE CASCADE
);

INSERT INTO app_versions_new SELECT * FROM app_versions;
DROP TABLE app_versions;
ALTER TABLE app_versions_new RENAME TO app_versions;
