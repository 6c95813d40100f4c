-- Apps' variables and secrets: see the SQLite migration of the same name.
ALTER TABLE apps ADD COLUMN vars TEXT NOT NULL DEFAULT '{}';
