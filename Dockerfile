# ctibridge container image: docs/operations.md, Container (build, run, volumes, secrets, health check).
#   docker build -t ctibridge .
# NODE_IMAGE: any Debian-based Node 20 image with npm and the Node headers in /usr/local
# (the official one, or a local copy: scripts/test-container.sh builds with buildah).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: dev dependencies, TypeScript, the native SQLite addon --------------------------
FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles from source when no prebuilt binary can be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp takes the headers of the image's own Node instead of downloading them.
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /src
COPY package.json package-lock.json ./
# The client SDK is an npm workspace: its manifest is part of the install.
COPY packages/client/package.json ./packages/client/
# Dependencies first (a cached layer while only the code changes); `prepare` (the TypeScript
# build) needs the sources, so scripts are skipped here and the addon built explicitly.
# An optional build secret `npmrc` (a private registry, a proxy's CA) never lands in a layer:
#   docker build --secret id=npmrc,src=$HOME/.npmrc .
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    npm ci --ignore-scripts \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY packages/client/build.mjs packages/client/tsconfig.json ./packages/client/
COPY packages/client/src ./packages/client/src
RUN npm run build \
 && npm prune --omit=dev \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/

# ---- run: production dependencies only, unprivileged ---------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    STATE_DIRECTORY=/var/lib/ctibridge
# A fixed uid/gid, so a bind-mounted state folder can be prepared: chown 10001:10001 DIR
RUN groupadd --system --gid 10001 ctibridge \
 && useradd --uid 10001 --gid ctibridge --home-dir /var/lib/ctibridge --no-create-home --shell /usr/sbin/nologin ctibridge \
 && mkdir -p /var/lib/ctibridge /etc/ctibridge \
 && chown ctibridge:ctibridge /var/lib/ctibridge \
 && chmod 0700 /var/lib/ctibridge
WORKDIR /opt/ctibridge
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
# `ctibridge watch` runs on the SDK's sources; its browser build is served at /sdk/ctibridge-client.js.
COPY --from=build /src/dist/packages ./dist/packages
COPY --from=build /src/packages/client/dist/ctibridge-client.js ./packages/client/dist/
COPY web ./web
# The recorded calls the PBX simulator replays (ami.mode: simulator, `ctibridge demo`).
COPY test/fixtures/ami ./test/fixtures/ami
COPY config/ctibridge.example.yaml ./config/
COPY container/entrypoint.mjs container/healthcheck.mjs container/secretFiles.mjs ./container/
RUN chmod 0755 container/entrypoint.mjs \
 && ln -s /opt/ctibridge/container/entrypoint.mjs /usr/local/bin/ctibridge
USER ctibridge:ctibridge
# The SQLite database ($STATE_DIRECTORY/ctibridge.db, WAL): keep it on a volume.
VOLUME ["/var/lib/ctibridge"]
# server.port; the config must set server.host: 0.0.0.0 (the default 127.0.0.1 is unreachable from outside).
EXPOSE 8088
# /healthz: 200 while the PBX link is up and the store takes writes (container/healthcheck.mjs).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/opt/ctibridge/container/healthcheck.mjs"]
ENTRYPOINT ["ctibridge"]
CMD ["start", "--config", "/etc/ctibridge/ctibridge.yaml"]
