-- Schedules: see the SQLite migration of the same name.
ALTER TABLE apps ADD COLUMN schedule TEXT NOT NULL DEFAULT '[]';
CREATE TABLE runs (
    kind TEXT NOT NULL,
    app TEXT NOT NULL,
    cron TEXT NOT NULL,
    scheduled_ms BIGINT NOT NULL,
    node TEXT NOT NULL,
    request_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status BIGINT,
    duration_ms BIGINT,
    error TEXT,
    PRIMARY KEY (kind, app, cron, scheduled_ms)
);
CREATE INDEX runs_by_app ON runs (kind, app, scheduled_ms);
