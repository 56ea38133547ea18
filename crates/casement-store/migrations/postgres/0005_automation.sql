-- Automation executions (PostgreSQL), the same tables as the SQLite schema. A running
-- execution is driven by one server at a time (`owner` until `lease_until_ms`); another
-- takes it over once the lease has run out.

CREATE TABLE automation_executions (
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    execution_id   TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    status         TEXT NOT NULL,
    rate_control   BOOLEAN NOT NULL DEFAULT false,
    finished       BOOLEAN NOT NULL,
    end_ms         BIGINT,
    owner          TEXT,
    lease_until_ms BIGINT,
    doc            TEXT NOT NULL,
    PRIMARY KEY (account, region, execution_id)
);

CREATE INDEX automation_executions_newest ON automation_executions (account, region, created_ms DESC, execution_id DESC);
CREATE INDEX automation_executions_running ON automation_executions (account, region, status) WHERE NOT finished;

CREATE TABLE automation_signals (
    seq          BIGSERIAL PRIMARY KEY,
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    doc          TEXT NOT NULL
);

CREATE INDEX automation_signals_by_execution ON automation_signals (account, region, execution_id, seq);
