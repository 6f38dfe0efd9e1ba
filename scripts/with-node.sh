#!/bin/sh
# Runs a command (vitest, tsc, a bench script) with a Node.js that can run Memento and the
# dependencies installed: `npm test` works on a fresh clone on a machine with an old Node.
set -eu
ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
. "$ROOT/scripts/node-env.sh"
exec "$@"
