#!/bin/sh
# Check systemd/ctibridge.service with systemd's own tools (not part of npm test; the same checks
# run there through test/systemd/unit.test.ts):
#   systemd-analyze verify                    the unit parses, every setting is known and valid,
#                                             ExecStart exists (verify exits 0 on "ignoring" lines:
#                                             any output counts as a failure here)
#   systemd-analyze security --offline=yes    exposure score, must be ≤ 2.5 ("OK" or better)
# verify needs the ExecStart binary to exist. With PREFIX (an install made as in
# docs/operations.md, e.g. by scripts/test-install.sh) the unit is checked against
# PREFIX/bin/ctibridge; without it, against `node dist/src/main.js` of this checkout.
# Works without systemd as PID 1 (containers, CI). Usage: scripts/check-systemd.sh [PREFIX]
set -eu
cd "$(dirname "$0")/.."
command -v systemd-analyze >/dev/null || { echo "check-systemd: systemd-analyze not installed (Debian: apt-get install systemd)" >&2; exit 2; }
max=2.5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -ge 1 ]; then
  bin="$1/bin/ctibridge"
  [ -x "$bin" ] || { echo "check-systemd: $bin is not an executable" >&2; exit 2; }
else
  [ -f dist/src/main.js ] || npm run build --silent
  bin="$(command -v node) $PWD/dist/src/main.js"
fi
sed "s|^ExecStart=/opt/ctibridge/bin/ctibridge |ExecStart=$bin |" systemd/ctibridge.service > "$tmp/ctibridge.service"
echo "\$ systemd-analyze --version"
systemd-analyze --version | head -1
echo "\$ systemd-analyze verify ctibridge.service    # ExecStart=$bin …"
# verify exits 0 on an unknown key or a value it cannot parse ("…, ignoring"): any output fails.
if ! out=$(systemd-analyze verify "$tmp/ctibridge.service" 2>&1) || [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  echo "check-systemd: verify found problems" >&2
  exit 1
fi
echo "verify: no problems"
echo "\$ systemd-analyze security --offline=yes ctibridge.service"
systemd-analyze security --offline=yes "$tmp/ctibridge.service" | grep -E '^(✗|→)' || true
score=$(systemd-analyze security --offline=yes "$tmp/ctibridge.service" | sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
[ -n "$score" ] || { echo "check-systemd: no exposure score in the output" >&2; exit 1; }
if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
  echo "exposure $score ≤ $max: ok"
else
  echo "check-systemd: exposure $score is above $max" >&2
  exit 1
fi
