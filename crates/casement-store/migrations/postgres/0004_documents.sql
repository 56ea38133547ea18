-- SSM documents (PostgreSQL), the same tables as the SQLite schema. A document's record
-- (`doc`: type, latest and default version, sharing)
-- and its versions, each with the content as it was given and what was read from it
-- (`meta`), so a listing reads no content.

CREATE TABLE documents (
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    name    TEXT NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (account, region, name)
);

CREATE TABLE document_versions (
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    name    TEXT NOT NULL,
    version BIGINT NOT NULL,
    meta    TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (account, region, name, version)
);

-- Who may read a document of another account: one row per (document, account it is
-- shared with, or 'all'), keyed for "what is shared with me".
CREATE TABLE document_shares (
    region     TEXT NOT NULL,
    shared_with TEXT NOT NULL,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (region, shared_with, owner, name)
);
