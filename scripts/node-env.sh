# Sourced (POSIX sh) by bin/memento, scripts/with-node.sh and .ci/run with ROOT set to the
# repository root. Puts a Node.js that can run Memento first on PATH and installs the
# project's dependencies when they are missing or older than package-lock.json.
#
# Memento's sources are TypeScript run directly by Node's built-in type stripping, which is
# on by default from Node 22.18 / 23.6; older machines (this one ships Node 20) get Node 24
# from the npm registry's `node` package in .tools/node. Nothing is fetched from elsewhere.

memento_node_ok() {
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' >/dev/null 2>&1
}

MEMENTO_NODE_DIR="$ROOT/.tools/node/node_modules/.bin"
# The Node that passed the version check last time, so that a start costs no extra Node
# process (~30-60 ms): trusted while the binary is older than the note.
MEMENTO_NODE_NOTE="$ROOT/.tools/node-ok"
memento_noted=$(cat "$MEMENTO_NODE_NOTE" 2>/dev/null || true)
if [ -n "$memento_noted" ] && [ -x "$memento_noted" ] && [ "$MEMENTO_NODE_NOTE" -nt "$memento_noted" ] &&
  { [ "$(command -v node 2>/dev/null)" = "$memento_noted" ] || [ "$memento_noted" = "$MEMENTO_NODE_DIR/node" ]; }; then
  case $memento_noted in "$MEMENTO_NODE_DIR"/*) PATH="$MEMENTO_NODE_DIR:$PATH" ;; esac
elif command -v node >/dev/null 2>&1 && memento_node_ok node; then
  :
elif memento_node_ok "$MEMENTO_NODE_DIR/node"; then
  PATH="$MEMENTO_NODE_DIR:$PATH"
else
  echo "memento: Node.js $(node --version 2>/dev/null || echo '(none)') cannot run Memento (needs >= 22.18); installing Node 24 from the npm registry into .tools/node ..." >&2
  mkdir -p "$ROOT/.tools/node"
  npm install --prefix "$ROOT/.tools/node" --no-audit --no-fund --loglevel=error node@24 >&2 || {
    echo "memento: installing Node 24 failed; install Node >= 22.18 yourself and retry" >&2
    exit 1
  }
  memento_node_ok "$MEMENTO_NODE_DIR/node" || { echo "memento: the installed Node 24 does not run" >&2; exit 1; }
  PATH="$MEMENTO_NODE_DIR:$PATH"
fi
export PATH
if [ -z "$memento_noted" ] || [ "$(command -v node)" != "$memento_noted" ] || [ ! "$MEMENTO_NODE_NOTE" -nt "$memento_noted" ]; then
  mkdir -p "$ROOT/.tools" 2>/dev/null && command -v node >"$MEMENTO_NODE_NOTE" 2>/dev/null || true
fi

if [ ! -f "$ROOT/node_modules/.package-lock.json" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  echo "memento: installing dependencies (npm ci) ..." >&2
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2) || { echo "memento: npm ci failed" >&2; exit 1; }
fi
PATH="$ROOT/node_modules/.bin:$PATH"
export PATH
