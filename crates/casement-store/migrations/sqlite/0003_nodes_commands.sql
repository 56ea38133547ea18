-- Managed nodes and Run Command. Documents hold what the API serves; the columns beside
-- them are what the queries select on, derived from the document on every write.

CREATE TABLE activations (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    activation_id TEXT NOT NULL,
    code_sha256   TEXT NOT NULL,
    doc           TEXT NOT NULL,
    PRIMARY KEY (account, region, activation_id)
) WITHOUT ROWID;
-- Registration is anonymous: it names only the activation.
CREATE UNIQUE INDEX activations_by_id ON activations (activation_id);

CREATE TABLE managed_nodes (
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    instance_id    TEXT NOT NULL,
    access_key_id  TEXT NOT NULL,
    secret         TEXT NOT NULL,
    deregistered   INTEGER NOT NULL DEFAULT 0,
    last_ping_ms   INTEGER NOT NULL,
    doc            TEXT NOT NULL,
    PRIMARY KEY (account, region, instance_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX managed_nodes_by_key ON managed_nodes (access_key_id);

CREATE TABLE commands (
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    command_id   TEXT NOT NULL,
    requested_ms INTEGER NOT NULL,
    doc          TEXT NOT NULL,
    PRIMARY KEY (account, region, command_id)
) WITHOUT ROWID;
CREATE INDEX commands_by_time ON commands (account, region, requested_ms, command_id);

-- `pending_message`: a message waits for the node (a released, unacknowledged command,
-- or a cancel); `deadline_ms`: set while the invocation is not final. Which fetched
-- messages are hidden (visibility timeout) is each server's memory, not state.
CREATE TABLE command_invocations (
    account          TEXT NOT NULL,
    region           TEXT NOT NULL,
    command_id       TEXT NOT NULL,
    instance_id      TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    requested_ms     INTEGER NOT NULL,
    released         INTEGER NOT NULL,
    finished         INTEGER NOT NULL,
    pending_message  INTEGER NOT NULL,
    deadline_ms      INTEGER,
    doc              TEXT NOT NULL,
    PRIMARY KEY (account, region, command_id, instance_id)
) WITHOUT ROWID;
CREATE INDEX command_invocations_by_time ON command_invocations (account, region, requested_ms, command_id, instance_id);
CREATE INDEX command_invocations_by_node ON command_invocations (account, region, instance_id, requested_ms, command_id);
CREATE INDEX command_invocations_messages ON command_invocations (account, region, instance_id) WHERE pending_message = 1;
CREATE INDEX command_invocations_waiting ON command_invocations (account, region, command_id, seq) WHERE released = 0 AND finished = 0;
CREATE INDEX command_invocations_deadline ON command_invocations (deadline_ms) WHERE deadline_ms IS NOT NULL;
