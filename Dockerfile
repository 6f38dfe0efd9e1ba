# syntax=docker/dockerfile:1
# The Memento image. Its default command is the MCP server (`memento serve`); the compose
# file's client service runs `chat` from the same image.
#
# Node runs the TypeScript sources directly (type stripping, Node >= 22.18), so there is
# nothing to compile: the first stage installs the production dependencies, the second
# copies them and src/ into a fresh image, without npm's cache or any dev dependency,
# and runs as the unprivileged `node` user that the official image provides.
#
# The version is pinned here and, for the compose stack, in docker-compose.yml's x-images
# (passed in as this build argument); test/deploy checks that the two agree.
ARG NODE_IMAGE=node:24.21.0-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency's install script runs with the build's rights. The one
# production dependency that has one (protobufjs) only prints a version-scheme warning.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    MEMENTO_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# Owned by `node` in the image, so a fresh named volume mounted here is writable too
# (Docker copies the directory's ownership into an empty volume).
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8000

# fetch is built into Node: no curl or wget needed in a slim image. /health needs no
# token. Probes the port of the default command.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# What bin/memento runs, minus its dependency bootstrap (everything is installed already):
# the SDK is preloaded so that it instruments modules before they are imported. Exec form,
# so SIGTERM reaches Node, which flushes its spans before it exits (compose adds an init
# process in front with `init: true`).
# --expose-gc as bin/memento gives `serve`: the server hands pooled heap pages back after a
# flood of sessions (src/server/http/memory.ts).
ENTRYPOINT ["node", "--expose-gc", "--import", "/app/src/telemetry/preload.ts", "/app/src/cli.ts"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
