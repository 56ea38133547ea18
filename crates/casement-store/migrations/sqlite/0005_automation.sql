-- Automation executions. Each is its JSON record (`doc`: the runbook, parameters, every
-- step's status and progress); the columns beside it are what listings order on and
-- what leases and the concurrency limit read (a rate-controlled parent, which only
-- starts and follows its children, is not counted). A running execution is driven by
-- one server at a time (`owner` until `lease_until_ms`).

CREATE TABLE automation_executions (
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    execution_id   TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    status         TEXT NOT NULL,
    rate_control   INTEGER NOT NULL DEFAULT 0,
    finished       INTEGER NOT NULL,
    end_ms         INTEGER,
    owner          TEXT,
    lease_until_ms INTEGER,
    doc            TEXT NOT NULL,
    PRIMARY KEY (account, region, execution_id)
) WITHOUT ROWID;

CREATE INDEX automation_executions_newest ON automation_executions (account, region, created_ms DESC, execution_id DESC);
CREATE INDEX automation_executions_running ON automation_executions (finished, account, region, status);

-- Signals (approvals, resumes, stops) waiting for an execution's driver, in the order
-- they came.
CREATE TABLE automation_signals (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    doc          TEXT NOT NULL
);

CREATE INDEX automation_signals_by_execution ON automation_signals (account, region, execution_id, seq);
