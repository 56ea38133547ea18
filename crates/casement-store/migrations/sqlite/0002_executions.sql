-- The engine's state. `windows.next_fire_ms` is the scheduler's index: the next
-- occurrence of each enabled window (NULL: none), advanced in the transaction that
-- records the execution, so an occurrence is claimed exactly once.

ALTER TABLE windows ADD COLUMN next_fire_ms INTEGER;
CREATE INDEX windows_next_fire ON windows (next_fire_ms) WHERE next_fire_ms IS NOT NULL;

-- `finished`: the status is final; running executions carry the lease of the node that
-- drives them. `cancel_requested` is set by CancelMaintenanceWindowExecution and never
-- written by the driver's upserts (which would race with it).
CREATE TABLE window_executions (
    account             TEXT NOT NULL,
    region              TEXT NOT NULL,
    window_execution_id TEXT NOT NULL,
    window_id           TEXT NOT NULL,
    start_ms            INTEGER NOT NULL,
    end_ms              INTEGER,
    finished               INTEGER NOT NULL,
    cancel_requested    INTEGER NOT NULL DEFAULT 0,
    owner               TEXT,
    lease_until_ms      INTEGER,
    doc                 TEXT NOT NULL,
    PRIMARY KEY (account, region, window_execution_id)
) WITHOUT ROWID;
CREATE INDEX window_executions_by_window ON window_executions (account, region, window_id, start_ms, window_execution_id);
CREATE INDEX window_executions_running ON window_executions (account, region, window_id) WHERE finished = 0;
CREATE INDEX window_executions_ended ON window_executions (end_ms) WHERE finished = 1;

CREATE TABLE task_executions (
    account             TEXT NOT NULL,
    region              TEXT NOT NULL,
    window_execution_id TEXT NOT NULL,
    task_execution_id   TEXT NOT NULL,
    doc                 TEXT NOT NULL,
    PRIMARY KEY (account, region, window_execution_id, task_execution_id)
) WITHOUT ROWID;

CREATE TABLE task_invocations (
    account             TEXT NOT NULL,
    region              TEXT NOT NULL,
    task_execution_id   TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    window_execution_id TEXT NOT NULL,
    invocation_id       TEXT NOT NULL,
    status              TEXT NOT NULL,
    doc                 TEXT NOT NULL,
    PRIMARY KEY (account, region, task_execution_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX task_invocations_by_id ON task_invocations (account, region, invocation_id);

-- The transactional outbox: events are appended in the transaction of the change they
-- report; each sink delivers in order and records how far it got.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE TABLE event_cursors (
    sink TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;
