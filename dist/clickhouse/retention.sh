#!/bin/sh
# Drops ssh-trace's ClickHouse partitions older than DAYS days
# (docs/fleet.md): ClickHouse 18.16 has no TTL. Daily from cron, e.g.
#   17 3 * * * sh /usr/share/doc/ssh-trace/examples/clickhouse-retention.sh 90
# ssh_trace.events is partitioned by day and goes day by day; the views are
# partitioned by month, and a month goes once all its days are older.
# CLICKHOUSE_URL (default http://127.0.0.1:8123), CLICKHOUSE_USER and
# CLICKHOUSE_PASSWORD say where and as whom.
set -eu
days=${1:-}
case $days in
'' | *[!0-9]*)
    echo "usage: retention.sh DAYS (keep the last DAYS days)" >&2
    exit 2
    ;;
esac
url=${CLICKHOUSE_URL:-http://127.0.0.1:8123}

query() {
    curl -sS --fail-with-body --data-binary "$1" \
        -H "X-ClickHouse-User: ${CLICKHOUSE_USER:-default}" \
        -H "X-ClickHouse-Key: ${CLICKHOUSE_PASSWORD:-}" "$url/"
}

query "SELECT DISTINCT table, partition FROM system.parts
       WHERE database = 'ssh_trace' AND active AND (
           (table = 'events' AND partition < toString(toYYYYMMDD(today() - $days)))
           OR (table != 'events' AND partition < toString(toYYYYMM(today() - $days))))
       ORDER BY table, partition FORMAT TabSeparated" |
    while read -r table partition; do
        query "ALTER TABLE ssh_trace.$table DROP PARTITION $partition"
        echo "retention.sh: dropped ssh_trace.$table partition $partition"
    done
