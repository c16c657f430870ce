# Shared set-up for script/dev and script/test: install what is missing, find or start services.
# Sourced, not run. Every function prints what it does and fails loudly with what is missing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# npm ci when node_modules is absent or older than package-lock.json.
ensure_node_modules() {
  command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
  local stamp="$ROOT/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ] || [ ! -x "$ROOT/node_modules/.bin/forge" ]; then
    say "installing JavaScript-side tools (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  fi
  for tool in forge anvil cast; do
    "$ROOT/node_modules/.bin/$tool" --version >/dev/null 2>&1 || die "$tool from npm does not run"
  done
}

# Installs Debian package $1 with apt-get when running as root (as CI does), refreshing the
# package lists once if the first attempt fails; otherwise stops and names $2, the command to run.
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $1 (apt-get)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null \
        || die "apt-get install $1 failed"
    fi
  else
    die "${2:-$1} is missing: run 'sudo apt-get install $1'"
  fi
}

# A command from Debian's packages: $1 the command, $2 the package.
ensure_command() {
  command -v "$1" >/dev/null && return 0
  apt_install "$2" "$1"
  command -v "$1" >/dev/null || die "$2 is installed but $1 is still not on PATH"
}

# python3 with its venv module (schemathesis is installed into .venv/).
ensure_python_venv() {
  ensure_command python3 python3
  python3 -c 'import ensurepip, venv' 2>/dev/null && return 0
  local v; v="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  apt_install "python$v-venv" "python3's venv module"
  python3 -c 'import ensurepip, venv' 2>/dev/null || die "python$v-venv is installed but venv still fails"
}

ensure_cargo() {
  command -v cargo >/dev/null || die "cargo is not installed (https://rustup.rs)"
}

# PostgreSQL: use the one at PGHOST:PGPORT when it answers; else start the machine's cluster;
# else create one in $ROOT/.pgdata. Exports DATABASE_URL_BASE (no database name).
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
pg_answers() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$PGHOST" -p "$PGPORT" -t 2
  else
    (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null
  fi
}
pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) ; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}
ensure_postgres() {
  if ! pg_answers; then
    if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
      local v; v="$(ls /etc/postgresql | sort -V | tail -n1)"
      say "starting the machine's PostgreSQL $v cluster"
      pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    fi
  fi
  if ! pg_answers; then
    local bin; bin="$(pg_bindir)" || true
    [ -n "$bin" ] || die "PostgreSQL is not reachable at $PGHOST:$PGPORT and not installed (apt-get install postgresql)"
    local data="$ROOT/.pgdata" run=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir "$data" postgres
      run=(runuser -u postgres --)
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      say "creating a PostgreSQL cluster in $data"
      mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
      "${run[@]}" "$bin/initdb" -D "$data" -U "$PGUSER" --auth=trust >/dev/null || die "initdb failed"
    fi
    say "starting PostgreSQL from $data on port $PGPORT"
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-p $PGPORT -k /tmp -c listen_addresses=$PGHOST" start >/dev/null || die "pg_ctl start failed; see $data/server.log"
  fi
  pg_answers || die "PostgreSQL does not answer at $PGHOST:$PGPORT"
  export DATABASE_URL_BASE="postgres://$PGUSER@$PGHOST:$PGPORT"
}

# Creates database $1 if it does not exist.
ensure_database() {
  local db="$1"
  ensure_command psql postgresql-client
  psql -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
    || psql -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
}

# Redis: the rate-limit and ranking caches use it when REDIS_URL is set. Start the machine's
# redis-server when it is installed but not answering; say what is missing otherwise.
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
redis_answers() {
  if command -v redis-cli >/dev/null; then
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
  else
    (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT") 2>/dev/null
  fi
}
ensure_redis() {
  if ! redis_answers; then
    ensure_command redis-server redis-server
    say "starting redis-server on $REDIS_HOST:$REDIS_PORT (nothing kept on disk)"
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /tmp --logfile "/tmp/posmul-redis.log" >/dev/null || die "redis-server did not start"
    for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
    redis_answers || die "Redis does not answer at $REDIS_HOST:$REDIS_PORT"
  fi
  export REDIS_URL="${REDIS_URL:-redis://$REDIS_HOST:$REDIS_PORT}"
}

# sqlx-cli, for the compile-time query data in .sqlx/ (`cargo sqlx prepare`). Pinned to the
# version of sqlx in Cargo.lock; installed into ~/.cargo/bin once per machine.
SQLX_CLI_VERSION="0.9.0"
ensure_sqlx_cli() {
  ensure_cargo
  if ! cargo sqlx --version 2>/dev/null | grep -q "$SQLX_CLI_VERSION"; then
    say "installing sqlx-cli $SQLX_CLI_VERSION (once per machine, a few minutes)"
    cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --no-default-features \
      --features postgres,rustls --locked --quiet || die "cargo install sqlx-cli failed"
  fi
}

# A database migrated from migrations/ for checking queries: $1 (default posmul_sqlx), dropped
# and created anew. Exports SQLX_DATABASE_URL.
fresh_query_database() {
  local db="${1:-posmul_sqlx}"
  ensure_postgres
  ensure_sqlx_cli
  export SQLX_DATABASE_URL="$DATABASE_URL_BASE/$db"
  cargo sqlx database drop -y -f --database-url "$SQLX_DATABASE_URL" >/dev/null 2>&1 || true
  cargo sqlx database create --database-url "$SQLX_DATABASE_URL" || die "could not create $db"
  cargo sqlx migrate run --source "$ROOT/migrations" --database-url "$SQLX_DATABASE_URL" >/dev/null \
    || die "migrations failed on $db"
}
