#!/usr/bin/env bash
# Start (or stop) a throw-away Redis and PostgreSQL for the service tests and bench:cluster,
# in a temp folder, on loopback ports. `start` prints the `export` lines to eval:
#   eval "$(bash scripts/test-services.sh start)"   ...   bash scripts/test-services.sh stop "$SKULENS_SERVICES_DIR"
# Needs redis-server and PostgreSQL's initdb/pg_ctl (Debian: apt-get install redis-server postgresql).
set -euo pipefail

pg_bin() {
  local b
  b=$(command -v "$1" 2>/dev/null || ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1)
  [ -n "$b" ] || { echo "test-services: $1 not found (apt-get install postgresql)" >&2; exit 1; }
  echo "$b"
}
# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

case "${1:-}" in
start)
  command -v redis-server >/dev/null || { echo "test-services: redis-server not found (apt-get install redis-server)" >&2; exit 1; }
  dir=$(mktemp -d /tmp/skulens-services.XXXXXX)
  chmod 755 "$dir"
  rport=$(free_port)
  redis-server --bind 127.0.0.1 --port "$rport" --dir "$dir" --appendonly yes --save '' \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
  mkdir "$dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
  pport=$(free_port)
  as_pg "$(pg_bin initdb)" -D "$dir/pg" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  as_pg "$(pg_bin pg_ctl)" -D "$dir/pg" -l "$dir/pg/server.log" -w \
    -o "-p $pport -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
  as_pg "$(pg_bin createdb)" -h 127.0.0.1 -p "$pport" -U postgres skulens_test
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "export SKULENS_SERVICES_DIR=$dir"
  echo "export SKULENS_TEST_REDIS=redis://127.0.0.1:$rport"
  echo "export SKULENS_TEST_DATABASE=postgres://postgres@127.0.0.1:$pport/skulens_test"
  ;;
stop)
  dir=${2:?usage: test-services.sh stop <dir>}
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  [ -d "$dir/pg" ] && as_pg "$(pg_bin pg_ctl)" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: test-services.sh start | stop <dir>" >&2
  exit 2
  ;;
esac
