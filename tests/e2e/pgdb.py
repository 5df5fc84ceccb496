"""PostgreSQL databases for the e2e daemons, and psql to look into them (WAPD_TEST_PG).

When WAPD_TEST_PG names a database of a test cluster whose role may create databases (make e2e-pg starts one
with tests/pg/cluster.sh), every harness.Daemon keeps its state in a fresh database of its own,
wapd_t_<pid>_<n>, made from that one and given as --store; the database belongs to the state dir as its
wapd.db would (a daemon restarted on the dir finds it again) and is dropped with it. CREATE and DROP DATABASE
take a second or two each, so the next daemon's database is made, and a stopped one's dropped, in the
background while tests run; _pg_drop_all (which the harness runs at exit) waits for them.

psql takes no bound parameters: _sql_bind writes them into the SQL text as literals, for Daemon.store_rows
and Daemon.store_exec.
"""
import os
import shutil
import subprocess
import sys

# The test cluster's database this run makes its own databases from (see the module's docstring), or None.
PG_BASE = os.environ.get("WAPD_TEST_PG") or None

PG_DBS = {}  # real path of a state dir -> the URI of its database
_pg_seq = [0]
_pg_spare = []  # (name, psql process creating it): the next daemon's database, made while tests run
_pg_drops = []  # psql processes dropping databases in the background


def _psql_cmd(uri, *args):
    psql = shutil.which("psql") or os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
    return [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri] + list(args)


def _psql(uri, sql):
    """Runs SQL text through psql on uri; its rows, one per line, unaligned."""
    r = subprocess.run(_psql_cmd(uri), input=sql, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("psql on %s failed: %s" % (uri, r.stderr.strip()))
    return r.stdout


def _psql_start(sql):
    """Starts one statement on the cluster's base database in the background (a CREATE or DROP DATABASE,
    which take a second or two each with fsync on)."""
    return subprocess.Popen(_psql_cmd(PG_BASE, "-c", sql), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _psql_wait(proc, sql):
    _, errs = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise AssertionError("psql %s failed: %s" % (sql, errs.strip()))


def pg_uri_with_db(uri, db):
    """uri with its database (the path after the authority) replaced by db."""
    scheme, sep, rest = uri.partition("://")
    assert sep, "WAPD_TEST_PG is not a URI: " + uri
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    tail = rest[cut:]
    if tail.startswith("/"):
        q = tail.find("?")
        tail = tail[q:] if q >= 0 else ""
    return "%s://%s/%s%s" % (scheme, rest[:cut], db, tail)


def pg_db_name(uri):
    return uri.partition("://")[2].split("/", 1)[1].split("?", 1)[0]


def _pg_make():
    _pg_seq[0] += 1
    db = "wapd_t_%d_%d" % (os.getpid(), _pg_seq[0])
    return db, _psql_start("CREATE DATABASE %s" % db)


def pg_database(state_dir):
    """The database of a state dir on the test cluster, made on first use (a fresh, empty one)."""
    key = os.path.realpath(state_dir)
    if key not in PG_DBS:
        db, proc = _pg_spare.pop() if _pg_spare else _pg_make()
        _psql_wait(proc, "CREATE DATABASE %s" % db)
        PG_DBS[key] = pg_uri_with_db(PG_BASE, db)
        _pg_spare.append(_pg_make())
    return PG_DBS[key]


def _pg_drop_db(db):
    _pg_drops[:] = [p for p in _pg_drops if p.poll() is None]
    _pg_drops.append(_psql_start("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db))


def pg_drop(state_dir):
    """Drops a state dir's database (in the background: the daemon on it has stopped)."""
    uri = PG_DBS.pop(os.path.realpath(state_dir), None)
    if uri:
        _pg_drop_db(pg_db_name(uri))


def _pg_drop_all():
    try:
        for db, proc in _pg_spare:
            proc.wait(120)
            _pg_drop_db(db)
        for key in list(PG_DBS):
            pg_drop(key)
        for proc in _pg_drops:
            proc.communicate(timeout=120)
    except Exception as e:  # the cluster is thrown away whole after the run anyway
        print("e2e: could not drop the test databases: %s" % e, file=sys.stderr)


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _sql_bind(sql, params):
    """sql with each ? replaced by its parameter as an SQL literal (psql takes no bound parameters)."""
    parts = sql.split("?")
    assert len(parts) == len(params) + 1, "parameters do not match the ?s of " + sql
    out = [parts[0]]
    for v, part in zip(params, parts[1:]):
        out += [_sql_literal(v), part]
    return "".join(out)
