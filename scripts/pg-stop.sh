#!/usr/bin/env bash
# Stop a server started by scripts/pg-start.sh and remove its temp dir.
#   scripts/pg-stop.sh "$GDPRD_TEST_PG_DIR"
# Never fails: an already stopped server or a missing dir is fine.
set -uo pipefail

log() { echo "pg-stop: $*" >&2; }

DIR=${1:-}
if [ -z "$DIR" ]; then
    log "no dir given, nothing to stop"
    exit 0
fi
if [ ! -d "$DIR" ]; then
    exit 0
fi
if [ ! -e "$DIR/.gdprd-pg" ]; then
    log "$DIR was not made by pg-start.sh, leaving it alone"
    exit 0
fi

PGDATA_DIR="$DIR/data"
PIDFILE="$PGDATA_DIR/postmaster.pid"

if [ -f "$PIDFILE" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$PGBIN" ] && [ -x "$PGBIN/pg_ctl" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            (cd "$DIR" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 30 stop) >/dev/null 2>&1 || true
        else
            (cd "$DIR" && "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 30 stop) >/dev/null 2>&1 || true
        fi
    fi
    # Still there (pg_ctl missing or timed out)? Stop the postmaster by pid.
    if [ -f "$PIDFILE" ]; then
        pid=$(head -n 1 "$PIDFILE" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -INT "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
fi

rm -rf -- "$DIR" || true
exit 0
