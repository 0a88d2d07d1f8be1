-- Shared snippets. Content-addressed and immutable: the id is derived from the code, the
-- article and the anchor (see src/shares/mod.rs), so sharing the same thing twice stores
-- one row. Anonymous: no user is recorded.

CREATE TABLE shares (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL,
    -- The article the snippet came from (a slug, not a foreign key: content lives in
    -- files), and the heading id of its section; NULL when not given.
    article     TEXT,
    anchor      TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
