-- A hosted frontend's static files (the uploaded ZIP), so that every node unpacks them into its
-- own data dir. One row per service; replaced by each upload, deleted with the service.
CREATE TABLE assets (
    name    TEXT PRIMARY KEY NOT NULL,
    sha256  TEXT NOT NULL,
    archive BYTEA NOT NULL
);
