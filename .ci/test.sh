#!/usr/bin/env bash
# The one test command (`make test`, and CI through .ci/run): install, check the browser and
# the services, lint, type-check, then the whole suite against real PostgreSQL and Redis.
# Each stage prints how many seconds it took; a summary follows at the end, pass or fail.
# It never stops PostgreSQL or Redis, and never runs anything in bench/.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

VENV=.venv
STAMP=$VENV/.installed # sha256 of the pyproject.toml installed from (the Makefile writes it too)
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ibt_companion}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}

# --- stage timing -----------------------------------------------------------------------
TIMINGS=()
STAGE=""
STAGE_START=""
begin() {
    STAGE=$1
    STAGE_START=$EPOCHREALTIME
    echo "==> $STAGE"
}
finish() {
    local seconds
    seconds=$(awk -v a="$STAGE_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    echo "==> $STAGE: ${seconds} s"
    TIMINGS+=("$(printf '%-10s %7s s' "$STAGE" "$seconds")")
    STAGE=""
}
summary() {
    local rc=$?
    if [[ -n $STAGE ]]; then
        finish
        TIMINGS[-1]+="  (failed)"
    fi
    echo "==> stage times"
    printf '    %s\n' "${TIMINGS[@]}"
    exit "$rc"
}
trap summary EXIT
die() {
    echo "error: $*" >&2
    exit 1
}

# --- (a) virtualenv and packages ----------------------------------------------------------
begin install
if [[ ! -x $VENV/bin/python ]]; then
    PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
    [[ -n $PYTHON ]] || die "no python3.11 or python3 on PATH: install Python 3.11"
    "$PYTHON" -m venv "$VENV"
fi
if ! sha256sum --check --status "$STAMP" 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
    sha256sum pyproject.toml >"$STAMP"
else
    echo "packages already installed for this pyproject.toml"
fi
PY=$VENV/bin/python
finish

# --- (b) browser -------------------------------------------------------------------------
begin browser
if [[ ! -x $CHROMIUM ]]; then
    if [[ $CHROMIUM != /usr/bin/chromium ]]; then
        die "CHROMIUM_PATH names $CHROMIUM, which is not an executable"
    elif [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        die "/usr/bin/chromium is missing and this is not root: run 'apt-get install chromium' as root"
    fi
fi
"$CHROMIUM" --version 2>/dev/null || die "$CHROMIUM --version failed: is the chromium package intact?"
echo "Playwright $("$PY" -c 'import playwright, importlib.metadata as m; print(m.version("playwright"))')"
finish

# --- (c) PostgreSQL and Redis --------------------------------------------------------------
begin services
url_host_port() { # URL DEFAULT_PORT -> "host port"
    "$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or sys.argv[2])' "$1" "$2"
}
read -r PG_HOST PG_PORT < <(url_host_port "$DATABASE_URL" 5432)
read -r REDIS_HOST REDIS_PORT < <(url_host_port "$REDIS_URL" 6379)

postgres_answers() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3
    else # the server answers even when the project's database does not exist yet
        "$PY" -c 'import sys, psycopg2, urllib.parse as u; p = u.urlsplit(sys.argv[1]); psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username, password=p.password, dbname="postgres", connect_timeout=3).close()' "$DATABASE_URL" 2>/dev/null
    fi
}
redis_answers() {
    if command -v redis-cli >/dev/null; then
        [[ $(timeout 5 redis-cli -u "$REDIS_URL" ping 2>/dev/null) == PONG ]]
    else
        "$PY" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()' "$REDIS_URL" 2>/dev/null
    fi
}
wait_for() { # CHECK SECONDS
    local deadline=$((SECONDS + $2))
    until "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

if ! postgres_answers && [[ -d /etc/postgresql && -n $(ls /etc/postgresql) ]]; then
    echo "PostgreSQL does not answer on $PG_HOST:$PG_PORT; starting the local cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
    wait_for postgres_answers 20 || true
fi
if ! postgres_answers; then
    [[ -d /etc/postgresql && -n $(ls /etc/postgresql) ]] &&
        die "PostgreSQL does not answer on $PG_HOST:$PG_PORT, even after starting the local cluster: check DATABASE_URL and /var/log/postgresql"
    die "PostgreSQL does not answer on $PG_HOST:$PG_PORT: install postgresql (apt-get install postgresql) or set DATABASE_URL"
fi
echo "PostgreSQL answers on $PG_HOST:$PG_PORT"

if ! redis_answers && command -v redis-server >/dev/null; then
    echo "Redis does not answer on $REDIS_HOST:$REDIS_PORT; starting redis-server"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    wait_for redis_answers 15 || true
fi
if ! redis_answers; then
    command -v redis-server >/dev/null &&
        die "Redis does not answer on $REDIS_HOST:$REDIS_PORT, even after starting redis-server: check REDIS_URL and /var/log/redis/ci.log"
    die "Redis does not answer on $REDIS_HOST:$REDIS_PORT: install redis (apt-get install redis-server) or set REDIS_URL"
fi
echo "Redis answers on $REDIS_HOST:$REDIS_PORT"
finish

# --- (d) lint ------------------------------------------------------------------------------
begin lint
"$VENV/bin/ruff" check .
finish

# --- (e) types -----------------------------------------------------------------------------
# mypy as [tool.mypy] in pyproject.toml says: which files (all of refills/ among them) and the
# strict pure modules. No cache, so a stale one can never pass or fail this stage.
begin types
"$VENV/bin/mypy" --no-incremental --cache-dir=/dev/null
finish

# --- (f) the suite (bench/ is never collected: it holds scripts that print figures) ------
begin pytest
if [[ -n ${CI:-} ]]; then
    export HYPOTHESIS_PROFILE=ci
fi
rc=0
DJANGO_SETTINGS_MODULE=ibt_companion.settings.test "$PY" -m pytest -p no:cacheprovider --ignore=bench "$@" || rc=$?
if ((rc == 5)); then
    die "pytest collected no tests: there must be tests"
elif ((rc != 0)); then
    exit "$rc"
fi
finish
