#!/usr/bin/env bash
# cluster.sh: a throw-away PostgreSQL cluster for the tests, from Debian's postgresql package.
#
#   cluster.sh start DIR    initdb into DIR/data, start the server with its Unix socket in DIR and no TCP,
#                           and print the URI of its "postgres" database as the role "wapd" (LOGIN CREATEDB,
#                           not a superuser: what WAPD_TEST_PG names; a member of pg_signal_backend, so that
#                           DROP DATABASE … WITH (FORCE) may end an autovacuum worker still in a test's
#                           database). DIR must not exist or be empty.
#   cluster.sh stop DIR     stop that server (fast, then immediate) and remove DIR.
#   cluster.sh run CMD...   start a cluster in a new temporary directory, run CMD with WAPD_TEST_PG set to its
#                           URI, and stop and remove it whatever CMD did; exits with CMD's status.
#
# The server runs as a non-root user: the caller when not root; as root, Debian's "postgres" user, or a
# system user "wapdtest" made for it when there is none. Settings: fsync on (the default), no TCP
# (listen_addresses ''), trust authentication on the socket (the socket's directory is the cluster's own),
# max_connections 400: three daemons of 32 job workers, their HTTP threads and periodic threads each, and
# a test client. PG_BIN names the server's binaries (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        echo "$PG_BIN"
        return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] || die "no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)"
    echo "$d"
}

# The user the server runs as.
server_user() {
    if [ "$(id -u)" -ne 0 ]; then
        id -un
    elif id -u postgres >/dev/null 2>&1; then
        echo postgres
    else
        id -u wapdtest >/dev/null 2>&1 ||
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wapdtest
        echo wapdtest
    fi
}

# Runs a command as user (directly when that is who we are).
as_user() {
    local user=$1
    shift
    if [ "$(id -un)" = "$user" ]; then
        "$@"
    else
        runuser -u "$user" -- "$@"
    fi
}

start() {
    local dir=$1 bin user
    bin=$(pg_bin)
    user=$(server_user)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    # The socket's path must fit in sun_path (107 bytes) with its name .s.PGSQL.5432.
    [ "${#dir}" -le 90 ] || die "$dir is too long a path for the server's socket"
    echo "$user" >"$dir/user"
    [ "$(id -un)" = "$user" ] || chown "$user" "$dir"
    as_user "$user" "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    as_user "$user" "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c unix_socket_permissions=0777 \
            -c max_connections=400 -c fsync=on" start >/dev/null ||
        { cat "$dir/server.log" >&2 2>/dev/null; die "the server did not start"; }
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 "postgresql://postgres@/postgres?host=$dir" \
        -c "CREATE ROLE wapd LOGIN CREATEDB" -c "GRANT pg_signal_backend TO wapd" >/dev/null || die "could not create the role wapd"
    echo "postgresql://wapd@/postgres?host=$dir"
}

stop() {
    local dir=$1 bin user
    [ -d "$dir" ] || return 0
    bin=$(pg_bin)
    if [ -f "$dir/data/postmaster.pid" ]; then
        user=$(cat "$dir/user" 2>/dev/null || server_user)
        as_user "$user" "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --timeout=30 stop >/dev/null 2>&1 ||
            as_user "$user" "$bin/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait --timeout=30 stop \
                >/dev/null 2>&1 || echo "cluster.sh: could not stop the server of $dir" >&2
    fi
    rm -rf "$dir"
}

RUN_DIR=
run() {
    local uri rc=0
    [ $# -gt 0 ] || die "run: no command"
    RUN_DIR=$(mktemp -d /tmp/wapd-pg-XXXXXX)
    trap 'stop "$RUN_DIR"' EXIT
    trap 'exit 130' INT TERM
    uri=$(start "$RUN_DIR")
    echo "cluster.sh: PostgreSQL at $uri" >&2
    WAPD_TEST_PG=$uri "$@" || rc=$?
    return "$rc"
}

case "${1:-}" in
start)
    [ $# -eq 2 ] || die "usage: cluster.sh start DIR"
    start "$2"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: cluster.sh stop DIR"
    stop "$2"
    ;;
run)
    shift
    run "$@"
    ;;
*)
    die "usage: cluster.sh start DIR | stop DIR | run CMD..."
    ;;
esac
