-- Maintenance-window resources. Every key starts with (account, region): one account
-- never sees another's rows, and each lookup is a primary-key seek.
-- Each resource is kept whole as its JSON document (`doc`); the columns beside it are
-- the ones queries filter or order on.

CREATE TABLE windows (
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    window_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (account, region, window_id)
) WITHOUT ROWID;

CREATE TABLE window_targets (
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    window_id        TEXT NOT NULL,
    window_target_id TEXT NOT NULL,
    doc              TEXT NOT NULL,
    PRIMARY KEY (account, region, window_id, window_target_id)
) WITHOUT ROWID;

CREATE TABLE window_tasks (
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    window_id      TEXT NOT NULL,
    window_task_id TEXT NOT NULL,
    doc            TEXT NOT NULL,
    PRIMARY KEY (account, region, window_id, window_task_id)
) WITHOUT ROWID;

CREATE TABLE tags (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    tag_key       TEXT NOT NULL,
    tag_value     TEXT NOT NULL,
    PRIMARY KEY (account, region, resource_type, resource_id, tag_key)
) WITHOUT ROWID;

-- ClientToken idempotency: a retried create returns the first call's resource.
CREATE TABLE idempotency_tokens (
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    operation    TEXT NOT NULL,
    client_token TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (account, region, operation, client_token)
) WITHOUT ROWID;
