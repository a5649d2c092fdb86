#!/bin/bash
# Add the ctibridge issue-8 scenarios, dialplan and parking lot to a lab built by the lab kit.
#
#   lab/install.sh LAB
#
# Copies scripts/issue8_*.py into LAB/scripts and hooks them into the kit's scenarios.py (the
# scenario functions run in its namespace) and annotate.py (their expected outcomes); copies
# conf/extensions_issue8.conf (included from LAB/conf/extensions.conf), features.conf and
# res_parking.conf into LAB/conf; restarts Asterisk if it runs. Idempotent. Re-run it after
# re-running the kit's build.sh, which re-installs the kit's own conf/ and scripts/.
set -euo pipefail
LAB=$(cd "${1:?usage: install.sh LAB}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
test -f "$LAB/scripts/scenarios.py" || { echo "$LAB is not a built lab (no scripts/scenarios.py)" >&2; exit 1; }
cp "$HERE"/scripts/issue8_scenarios.py "$HERE"/scripts/issue8_outcomes.py "$LAB/scripts/"
cp "$HERE"/conf/extensions_issue8.conf "$HERE"/conf/features.conf "$HERE"/conf/res_parking.conf "$LAB/conf/"
grep -q 'extensions_issue8.conf' "$LAB/conf/extensions.conf" ||
  printf '\n; ctibridge issue 8 additions\n#include extensions_issue8.conf\n' >> "$LAB/conf/extensions.conf"
hook() {  # hook FILE PY_FILE ANCHOR_REGEX: exec PY_FILE in FILE's namespace just before ANCHOR
  grep -q "$2" "$1" || sed -i "0,/$3/s//exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '$2')).read())\n\n\n&/" "$1"
  grep -q "$2" "$1" || { echo "could not hook $2 into $1" >&2; exit 1; }
}
hook "$LAB/scripts/scenarios.py" issue8_scenarios.py '^def run(name, outdir):'
hook "$LAB/scripts/annotate.py" issue8_outcomes.py "^if __name__ == '__main__':"
if [ -f "$LAB/run/asterisk.pid" ] && kill -0 "$(cat "$LAB/run/asterisk.pid")" 2>/dev/null; then
  "$LAB/lab-down.sh" && "$LAB/lab-up.sh"
fi
echo "issue 8 scenarios installed in $LAB: python3 $LAB/scripts/scenarios.py list"
