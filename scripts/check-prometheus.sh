#!/bin/sh
# Checks the Prometheus side of the observability stack with promtool: the alert rules
# parse, their unit tests pass, and the Prometheus configuration (with the rule files it
# loads) is valid. `npm run check:prometheus` and .ci/run call it; .ci/run installs
# Debian's `prometheus` package, which ships promtool, when it is missing.
# Runs every check even after one fails, so one run shows every problem; exits 1 if any
# failed.
set -u
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
DIR="$ROOT/deploy/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
  echo "check-prometheus: promtool is not on PATH. It comes with Prometheus; on Debian or Ubuntu:" >&2
  echo "  apt-get install --no-install-recommends prometheus" >&2
  exit 1
fi

failed=""
check() {
  name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    echo "check-prometheus: FAILED: $name" >&2
    failed="$failed
  - $name"
  fi
}

check "promtool check rules (alerts.yml)" promtool check rules "$DIR/alerts.yml"
check "promtool test rules (alerts.test.yml)" promtool test rules "$DIR/alerts.test.yml"
check "promtool check config (prometheus.yml)" promtool check config "$DIR/prometheus.yml"

if [ -n "$failed" ]; then
  echo "check-prometheus: these checks failed:$failed" >&2
  exit 1
fi
echo "check-prometheus: all passed"
