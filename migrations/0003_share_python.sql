-- The Python runtime a shared snippet was run on ("3.13"); NULL: the server's default.
-- It is part of the share's identity (src/shares/mod.rs): the same code shared for two
-- versions gives two links.
ALTER TABLE shares ADD COLUMN python TEXT;
