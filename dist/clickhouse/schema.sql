-- ssh-trace's tables in ClickHouse (18.16 or later), for the `clickhouse`
-- sink (docs/agent.md) and `ssh-trace replay -r FILE --to CONFIG`;
-- docs/fleet.md explains each table and shows the queries.
--
--   clickhouse-client --multiquery < /usr/share/doc/ssh-trace/examples/clickhouse-schema.sql
--
-- Every statement can run again (IF NOT EXISTS). An event sent twice (an
-- insert retried after a lost reply, a capture replayed again) is the same
-- row with the same event_id: the events and sessions tables keep it once
-- (ReplacingMergeTree; read them with FINAL), and the rollups below store
-- only values that a duplicate cannot change (the last counter of a minute,
-- sets of sessions), never sums of what was inserted.

CREATE DATABASE IF NOT EXISTS ssh_trace;

-- One row per event. Typed columns for what queries select on; `data` is
-- the whole event as the sink's format writes it (native JSON lines by
-- default, docs/schema.md). A column that does not apply to an event type
-- holds its default ('' / 0 / NULL); docs/fleet.md lists what fills each.
CREATE TABLE IF NOT EXISTS ssh_trace.events
(
    time DateTime,
    time_ns UInt64,
    host String,
    event String,
    event_id UInt64,
    session_id UUID,
    user String,
    uid Nullable(UInt32),
    source_ip String,
    source_port UInt16,
    destination_ip String,
    destination_port UInt16,
    discovered UInt8,
    server_uid Nullable(UInt32),
    server_mode String,
    parent_session_id UUID,
    pid UInt32,
    ppid UInt32,
    process_uid Nullable(UInt32),
    process_euid Nullable(UInt32),
    process_gid Nullable(UInt32),
    process_egid Nullable(UInt32),
    executable String,
    args Array(String),
    process_role String,
    fileless UInt8,
    exit_code Nullable(UInt8),
    signal Nullable(UInt8),
    syscall String,
    success Nullable(UInt8),
    auth_user String,
    auth_method String,
    bytes_in UInt64,
    bytes_out UInt64,
    duration_ms UInt64,
    logged_in UInt8,
    alert_rule String,
    severity String,
    lost UInt64,
    lost_sessions Array(UUID),
    data String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (host, session_id, time_ns, event_id);

-- One row per ended session, from its session.end.
CREATE TABLE IF NOT EXISTS ssh_trace.sessions
(
    host String,
    session_id UUID,
    user String,
    uid Nullable(UInt32),
    source_ip String,
    source_port UInt16,
    destination_ip String,
    destination_port UInt16,
    discovered UInt8,
    server_uid Nullable(UInt32),
    parent_session_id UUID,
    started DateTime,
    started_ns UInt64,
    ended DateTime,
    ended_ns UInt64,
    duration_ms UInt64,
    bytes_in UInt64,
    bytes_out UInt64,
    logged_in UInt8
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ended)
ORDER BY (host, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ssh_trace.sessions_mv TO ssh_trace.sessions AS
SELECT
    host, session_id, user, uid, source_ip, source_port, destination_ip, destination_port,
    discovered, server_uid, parent_session_id,
    toDateTime(intDiv(time_ns - duration_ms * 1000000, 1000000000)) AS started,
    toUInt64(time_ns - duration_ms * 1000000) AS started_ns,
    time AS ended,
    time_ns AS ended_ns,
    duration_ms, bytes_in, bytes_out, logged_in
FROM ssh_trace.events
WHERE event = 'session.end';

-- Bytes per session and minute (hour): the session's counters as of its
-- last session.bytes / session.end in that minute. Counters are cumulative,
-- so a duplicate changes nothing; user_bytes_per_minute (below) turns them
-- into the bytes moved in each minute.
CREATE TABLE IF NOT EXISTS ssh_trace.session_bytes_per_minute
(
    minute DateTime,
    host String,
    session_id UUID,
    user AggregateFunction(max, String),
    bytes_in AggregateFunction(argMax, UInt64, UInt64),
    bytes_out AggregateFunction(argMax, UInt64, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (host, session_id, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS ssh_trace.session_bytes_per_minute_mv
TO ssh_trace.session_bytes_per_minute AS
SELECT
    toStartOfMinute(time) AS minute, host, session_id,
    maxState(user) AS user,
    argMaxState(bytes_in, time_ns) AS bytes_in,
    argMaxState(bytes_out, time_ns) AS bytes_out
FROM ssh_trace.events
WHERE event IN ('session.bytes', 'session.end')
GROUP BY minute, host, session_id;

CREATE TABLE IF NOT EXISTS ssh_trace.session_bytes_per_hour
(
    hour DateTime,
    host String,
    session_id UUID,
    user AggregateFunction(max, String),
    bytes_in AggregateFunction(argMax, UInt64, UInt64),
    bytes_out AggregateFunction(argMax, UInt64, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (host, session_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS ssh_trace.session_bytes_per_hour_mv
TO ssh_trace.session_bytes_per_hour AS
SELECT
    toStartOfHour(time) AS hour, host, session_id,
    maxState(user) AS user,
    argMaxState(bytes_in, time_ns) AS bytes_in,
    argMaxState(bytes_out, time_ns) AS bytes_out
FROM ssh_trace.events
WHERE event IN ('session.bytes', 'session.end')
GROUP BY hour, host, session_id;

-- Bytes each session moved in each minute (hour) it was active, with its
-- user: the difference between the counters at the end of this minute and
-- at the end of the session's previous active minute. Sum per user, host
-- or source as needed (docs/fleet.md).
CREATE VIEW IF NOT EXISTS ssh_trace.user_bytes_per_minute AS
SELECT minute, host, session_id, user, bytes_in, bytes_out
FROM
(
    SELECT host, session_id, max(u) AS user, arraySort(groupArray((minute, cin, cout))) AS points
    FROM
    (
        SELECT host, session_id, minute,
            maxMerge(user) AS u, argMaxMerge(bytes_in) AS cin, argMaxMerge(bytes_out) AS cout
        FROM ssh_trace.session_bytes_per_minute
        GROUP BY host, session_id, minute
    )
    GROUP BY host, session_id
)
ARRAY JOIN
    arrayMap(p -> p.1, points) AS minute,
    arrayMap(i -> toInt64(points[i].2) - if(i = 1, 0, toInt64(points[i - 1].2)), arrayEnumerate(points)) AS bytes_in,
    arrayMap(i -> toInt64(points[i].3) - if(i = 1, 0, toInt64(points[i - 1].3)), arrayEnumerate(points)) AS bytes_out;

CREATE VIEW IF NOT EXISTS ssh_trace.user_bytes_per_hour AS
SELECT hour, host, session_id, user, bytes_in, bytes_out
FROM
(
    SELECT host, session_id, max(u) AS user, arraySort(groupArray((hour, cin, cout))) AS points
    FROM
    (
        SELECT host, session_id, hour,
            maxMerge(user) AS u, argMaxMerge(bytes_in) AS cin, argMaxMerge(bytes_out) AS cout
        FROM ssh_trace.session_bytes_per_hour
        GROUP BY host, session_id, hour
    )
    GROUP BY host, session_id
)
ARRAY JOIN
    arrayMap(p -> p.1, points) AS hour,
    arrayMap(i -> toInt64(points[i].2) - if(i = 1, 0, toInt64(points[i - 1].2)), arrayEnumerate(points)) AS bytes_in,
    arrayMap(i -> toInt64(points[i].3) - if(i = 1, 0, toInt64(points[i - 1].3)), arrayEnumerate(points)) AS bytes_out;

-- Per source address and hour: connections that reached an SSH server,
-- those that logged in, those that closed without a login (failures), the
-- users logged in and the hosts reached. Sets, not sums: duplicates count
-- once. The decisions themselves are in auth_attempts_per_source (below).
CREATE TABLE IF NOT EXISTS ssh_trace.auth_per_source
(
    hour DateTime,
    source_ip String,
    connections AggregateFunction(uniqExact, String, UUID),
    logins AggregateFunction(uniqExactIf, String, UUID, UInt8),
    failures AggregateFunction(uniqExactIf, String, UUID, UInt8),
    users AggregateFunction(groupUniqArrayIf, String, UInt8),
    hosts AggregateFunction(groupUniqArray, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (source_ip, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS ssh_trace.auth_per_source_mv TO ssh_trace.auth_per_source AS
SELECT
    toStartOfHour(time) AS hour, source_ip,
    uniqExactState(host, session_id) AS connections,
    uniqExactIfState(host, session_id, logged_in = 1) AS logins,
    uniqExactIfState(host, session_id, logged_in = 0) AS failures,
    groupUniqArrayIfState(user, logged_in = 1) AS users,
    groupUniqArrayState(host) AS hosts
FROM ssh_trace.events
WHERE event = 'session.end'
GROUP BY hour, source_ip;

-- Per source address and hour, from session.auth (one per authentication
-- decision a server logged): the decisions, the failed ones, the user
-- names tried and the hosts tried. Sets of event ids, so duplicates count
-- once.
CREATE TABLE IF NOT EXISTS ssh_trace.auth_attempts_per_source
(
    hour DateTime,
    source_ip String,
    attempts AggregateFunction(uniqExact, UInt64),
    failed AggregateFunction(uniqExactIf, UInt64, UInt8),
    users_tried AggregateFunction(groupUniqArray, String),
    hosts AggregateFunction(groupUniqArray, String)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (source_ip, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS ssh_trace.auth_attempts_per_source_mv
TO ssh_trace.auth_attempts_per_source AS
SELECT
    toStartOfHour(time) AS hour, source_ip,
    uniqExactState(event_id) AS attempts,
    uniqExactIfState(event_id, ifNull(success, 1) = 0) AS failed,
    groupUniqArrayState(auth_user) AS users_tried,
    groupUniqArrayState(host) AS hosts
FROM ssh_trace.events
WHERE event = 'session.auth'
GROUP BY hour, source_ip;
