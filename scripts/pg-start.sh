#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite.
#
#   eval "$(scripts/pg-start.sh)"     # sets GDPRD_TEST_POSTGRES_URL, GDPRD_TEST_PG_DIR
#   ...
#   scripts/pg-stop.sh "$GDPRD_TEST_PG_DIR"
#
# The server runs as the `postgres` user (PostgreSQL refuses to run as root),
# listens on 127.0.0.1 only, keeps its socket, data and log in a fresh temp
# dir, and uses trust auth. stdout carries exactly the two `export` lines;
# everything else goes to stderr or to $DIR/postgres.log.
set -euo pipefail

# Everything we print goes to stderr; fd 3 is the real stdout for the exports.
exec 3>&1 1>&2

log() { echo "pg-start: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_pgbin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

PGBIN=$(find_pgbin)
if [ -z "$PGBIN" ]; then
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and we are not root to install it"
    log "PostgreSQL not found, installing the Debian package 'postgresql'"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends postgresql >/dev/null
    PGBIN=$(find_pgbin)
    [ -n "$PGBIN" ] || die "installed postgresql but no /usr/lib/postgresql/*/bin/initdb"
fi

# Keep caller settings from steering our client tools elsewhere.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGSERVICEFILE PGOPTIONS PGPASSWORD PGSSLMODE PGDATA || true

# Run a command as the postgres user (or as ourselves if we are not root).
# fd 3 (our stdout, often a $(...) pipe) is closed so the daemonized server
# does not hold it open and hang the caller.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user on this machine"
    as_pg() { runuser -u postgres -- "$@" 3>&-; }
else
    as_pg() { "$@" 3>&-; }
fi

# /tmp explicitly (not $TMPDIR): the postgres user must be able to reach it,
# and the Unix socket path must stay short.
DIR=$(mktemp -d /tmp/gdprd-pg.XXXXXXXX)
: >"$DIR/.gdprd-pg"  # marker so pg-stop.sh only ever deletes our dirs
PGDATA_DIR="$DIR/data"
LOGFILE="$DIR/postgres.log"
started=0

cleanup_on_error() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        if [ "$started" -eq 1 ]; then
            as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        fi
        if [ -f "$LOGFILE" ]; then
            log "last lines of $LOGFILE:"
            tail -n 30 "$LOGFILE" >&2 || true
        fi
        rm -rf -- "$DIR"
    fi
}
trap cleanup_on_error EXIT

if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$DIR" "$DIR/.gdprd-pg"
fi
chmod 700 "$DIR"
cd "$DIR"  # a cwd the postgres user can read

as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" --auth=trust --data-checksums -U postgres \
    --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
as_pg touch "$LOGFILE"

# Is something already listening on 127.0.0.1:$1?
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT=""
for p in $(seq 54329 54428); do
    port_in_use "$p" && continue
    [ -e "/tmp/.s.PGSQL.$p.lock" ] && continue
    log "starting PostgreSQL ($PGBIN) on 127.0.0.1:$p in $DIR"
    : >"$LOGFILE"
    started=1
    if as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOGFILE" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -k $DIR -p $p -c max_connections=200" start >/dev/null; then
        PORT=$p
        break
    fi
    started=0
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    if grep -qiE 'could not bind|address already in use|could not create (any TCP/IP|listen) socket' "$LOGFILE"; then
        log "port $p is taken, trying the next one"
        continue
    fi
    die "PostgreSQL failed to start"
done
[ -n "$PORT" ] || die "no free port in 54329-54428"

ready=0
for _ in $(seq 1 60); do
    if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -t 1; then
        ready=1
        break
    fi
    sleep 0.5
done
[ "$ready" -eq 1 ] || die "PostgreSQL did not answer pg_isready within 30 s"

"$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres gdprd_test

trap - EXIT
log "ready: postgres://postgres@127.0.0.1:$PORT/gdprd_test (log: $LOGFILE)"
echo "export GDPRD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/gdprd_test?sslmode=disable" >&3
echo "export GDPRD_TEST_PG_DIR=$DIR" >&3
