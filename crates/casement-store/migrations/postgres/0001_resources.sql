-- Maintenance-window resources (PostgreSQL). The same tables as the SQLite schema: every
-- key starts with (account, region); each resource is its JSON document in `doc`, with
-- the columns queries filter or order on beside it.

CREATE TABLE windows (
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    window_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (account, region, window_id)
);

CREATE TABLE window_targets (
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    window_id        TEXT NOT NULL,
    window_target_id TEXT NOT NULL,
    doc              TEXT NOT NULL,
    PRIMARY KEY (account, region, window_id, window_target_id)
);

CREATE TABLE window_tasks (
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    window_id      TEXT NOT NULL,
    window_task_id TEXT NOT NULL,
    doc            TEXT NOT NULL,
    PRIMARY KEY (account, region, window_id, window_task_id)
);

CREATE TABLE tags (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    tag_key       TEXT NOT NULL,
    tag_value     TEXT NOT NULL,
    PRIMARY KEY (account, region, resource_type, resource_id, tag_key)
);

CREATE TABLE idempotency_tokens (
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    operation    TEXT NOT NULL,
    client_token TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (account, region, operation, client_token)
);
