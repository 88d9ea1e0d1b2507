#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1; start them when installed but down; fail loudly otherwise.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if ! ls /etc/postgresql >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null; then
    echo "ERROR: PostgreSQL is not installed (apt-get install -y postgresql), and nothing answers on 127.0.0.1:5432." >&2
    exit 1
  fi
  echo "PostgreSQL is down: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "ERROR: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    echo "ERROR: Redis is not installed (apt-get install -y redis-server), and nothing answers on 127.0.0.1:6379." >&2
    exit 1
  fi
  echo "Redis is down: starting it"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  redis_up || { echo "ERROR: Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi
echo "PostgreSQL and Redis are up on 127.0.0.1"
