#!/bin/sh
# The install of docs/operations.md, for real, into a fresh temporary prefix (no root needed):
#   1. `npm pack` of this checkout (a clean copy of its files: dist/ is built fresh by `prepare`)
#   2. `npm install --global --prefix PREFIX --omit=dev ctibridge-VERSION.tgz` (what the docs
#      run with PREFIX=/opt/ctibridge; production dependencies only, better-sqlite3 prebuilt or
#      built from source with python3, make, g++)
#   3. from the install: --version, check-config of the example config with the AMI secret as a
#      systemd credential, a user added to a fresh database (the native SQLite module loads),
#      a recorded call replayed (the simulator's traces are shipped), the tarball's contents,
#      and scripts/check-systemd.sh against the installed binary.
# Needs the npm registry (or its cache) for the production dependencies. Not part of npm test.
# Usage: scripts/test-install.sh          KEEP=1 keeps the temporary folder.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ctibridge-install.XXXXXX")
[ "${KEEP:-}" = 1 ] && echo "keeping $work" || trap 'rm -rf "$work"' EXIT
step() { printf '\n$ %s\n' "$*"; }

mkdir "$work/src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$work/src"
ln -s "$root/node_modules" "$work/src/node_modules"   # the dev dependencies, for the build only

step npm pack
tgz=$(cd "$work/src" && npm pack --silent --pack-destination "$work" | tail -1)
ls -l "$work/$tgz" | awk '{ print $5, $NF }'
files=$(tar -tzf "$work/$tgz")
echo "$files" | sed 's|^package/||; s|/[^/]*$|/|' | sort | uniq -c
for want in package/dist/src/main.js package/systemd/ctibridge.service package/config/ctibridge.example.yaml \
  package/web/index.html package/docs/operations.md package/test/fixtures/ami/01-inbound-answered.ami; do
  echo "$files" | grep -qx "$want" || { echo "test-install: $want is missing from the tarball" >&2; exit 1; }
done
if echo "$files" | grep -E '\.map$|\.ts$|^package/(src|bench|dist/bench|test/(fixtures/(ami-legacy|synthetic)|[a-z]+\.test))/|fixtures/ami/.*\.json$' >&2; then
  echo "test-install: the tarball holds files not needed at run time (above)" >&2
  exit 1
fi

prefix="$work/opt/ctibridge"
step npm install --global --prefix PREFIX --omit=dev "$tgz"
npm install --global --prefix "$prefix" --omit=dev --no-audit --no-fund "$work/$tgz"
pkg="$prefix/lib/node_modules/ctibridge"
for dev in typescript vitest fast-check asterisk-manager; do
  [ ! -e "$pkg/node_modules/$dev" ] || { echo "test-install: dev dependency $dev was installed" >&2; exit 1; }
done
echo "production dependencies: $(ls "$pkg/node_modules" | grep -v '^\.' | wc -l) packages, $(du -sh "$pkg" | cut -f1) in all"

ctibridge="$prefix/bin/ctibridge"
step ctibridge --version
"$ctibridge" --version

mkdir -m 700 "$work/credentials"
printf 'install-test-secret\n' > "$work/credentials/ami-secret"
step CREDENTIALS_DIRECTORY=… ctibridge check-config --config PREFIX/…/config/ctibridge.example.yaml
CREDENTIALS_DIRECTORY="$work/credentials" "$ctibridge" check-config --config "$pkg/config/ctibridge.example.yaml" > "$work/check.out"
tail -1 "$work/check.out"
grep -q '"secret": "\[redacted\]"' "$work/check.out" || { echo "test-install: the credential did not reach ami.secret" >&2; exit 1; }

printf 'ami: { mode: live, secret: x }\nstore: { path: %s }\n' "$work/state/ctibridge.db" > "$work/store.yaml"
mkdir "$work/state"
step ctibridge users add alice Alice --device PJSIP/1001 "&&" ctibridge users list
"$ctibridge" users add alice Alice --device PJSIP/1001 --config "$work/store.yaml"
"$ctibridge" users list --config "$work/store.yaml"

step ctibridge replay PREFIX/…/test/fixtures/ami/01-inbound-answered.ami --config PREFIX/…/ctibridge.example.yaml
"$ctibridge" replay "$pkg/test/fixtures/ami/01-inbound-answered.ami" --config "$pkg/config/ctibridge.example.yaml" | cut -c1-200

step scripts/check-systemd.sh PREFIX
"$root/scripts/check-systemd.sh" "$prefix"
echo
echo "test-install: ok"
