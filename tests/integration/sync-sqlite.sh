#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# SQLite databases hammered by a writer while the agent syncs them (one in
# WAL mode, one with a rollback journal): every version that reaches the
# bucket passes PRAGMA integrity_check, the -wal/-journal/-shm side files
# are never uploaded on their own, and after the final flush the bucket
# holds exactly the rows the writer committed.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_have || skip_all "s3rver not installed (tests/deps.sh)"
have_unshare_pid || skip_all "cannot create a PID namespace"
command -v sqlite3 >/dev/null || skip_all "sqlite3 CLI not installed"
DUMP=$TI_TMP/dump
mkdir -p "$DUMP"
s3_start --dump "$DUMP" || skip_all "s3rver did not start"

DATA=$TI_TMP/data
LOG=$TI_TMP/ti.log
mkdir -p "$DATA/db"
ti_pid1_start "$LOG" OPENCLAW_STATE_DIR="$DATA" TENANT_SYNC_DEBOUNCE=200ms \
	$(s3_env q1/) -- sleep 100000
wait_until 30 grep -q "sync: watching" "$LOG"
ok $? "agent watching"

hammer() { # hammer DB JOURNAL-MODE SECONDS -> prints the rows committed
	python3 - "$@" <<'PY'
import sqlite3, sys, time
path, mode, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
db = sqlite3.connect(path, timeout=30, isolation_level=None)
db.execute("PRAGMA journal_mode=%s" % mode)
db.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT, pad BLOB)")
db.execute("CREATE INDEX IF NOT EXISTS tv ON t(v)")
end = time.time() + secs
n = 0
while time.time() < end:
    db.execute("BEGIN IMMEDIATE")
    for _ in range(25):
        db.execute("INSERT INTO t(v, pad) VALUES(?, randomblob(700))", ("row %d" % n,))
        n += 1
    db.execute("UPDATE t SET v = v || '+' WHERE id % 11 = ?", (n % 11,))
    db.execute("DELETE FROM t WHERE id % 97 = ?", (n % 97,))
    db.execute("COMMIT")
print(db.execute("SELECT count(*) FROM t").fetchone()[0])
db.close()
PY
}
hammer "$DATA/db/wal.db" WAL 6 >"$TI_TMP/wal.rows" &
w1=$!
hammer "$DATA/rollback.db" DELETE 6 >"$TI_TMP/rb.rows" &
w2=$!
wait "$w1"
ok $? "WAL writer finished"
wait "$w2"
ok $? "rollback-journal writer finished"
kill -TERM "$TI_PID"
ti_pid1_wait 60
is "$TI_RC" 143 "stopped (final flush)"

versions=0
bad=0
for k in "$DUMP"/*.key; do
	key=$(cat "$k")
	case "$key" in
	*.db)
		versions=$((versions + 1))
		r=$(sqlite3 "${k%.key}" 'PRAGMA integrity_check' 2>&1)
		[ "$r" = ok ] || {
			bad=$((bad + 1))
			diag "$key (${k%.key}): $r"
		}
		;;
	esac
done
nwal=$(grep -lx 'q1/openclaw/db/wal.db' "$DUMP"/*.key | wc -l)
nrb=$(grep -lx 'q1/openclaw/rollback.db' "$DUMP"/*.key | wc -l)
diag "uploaded versions: wal.db $nwal, rollback.db $nrb"
ok $((nwal < 3)) "the WAL database was uploaded repeatedly while written ($nwal)"
ok $((nrb < 3)) "so was the rollback-journal one ($nrb)"
is "$bad" 0 "every one of the $versions uploaded versions passes integrity_check"
is "$(s3_keys q1/ | grep -cE -- '-(wal|shm|journal)$')" 0 \
	"no -wal/-shm/-journal side file was uploaded"
is "$(sqlite3 "$(s3_obj q1/openclaw/db/wal.db)" 'SELECT count(*) FROM t')" \
	"$(cat "$TI_TMP/wal.rows")" "the final WAL database in the bucket has every committed row"
is "$(sqlite3 "$(s3_obj q1/openclaw/rollback.db)" 'SELECT count(*) FROM t')" \
	"$(cat "$TI_TMP/rb.rows")" "... and so does the rollback-journal one"
no_sanitizer_report "$LOG"
ok $? "no sanitizer report"
done_testing
