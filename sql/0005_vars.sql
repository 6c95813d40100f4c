-- Apps' variables and secrets: one JSON object per app, `{"KEY": {"value": "...", "secret": true}}`.
-- A secret's value is sealed (AES-256-GCM) with the node's secrets key, which never lives in the
-- database; a plain variable's value is kept as it is.
ALTER TABLE apps ADD COLUMN vars TEXT NOT NULL DEFAULT '{}';
