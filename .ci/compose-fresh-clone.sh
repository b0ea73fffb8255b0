#!/usr/bin/env bash
# compose/dev.yaml from a fresh clone, with no step before `up`: no
# certificates, no agency files, no node_modules. The setup service must make
# certificates and sample files (agency k's has k winners), and every agency
# must get exactly those winners.
#
#   clone    `git clone` of this checkout's HEAD into a temporary directory:
#            only what is committed;
#   up       `docker-compose -f compose/dev.yaml up` there. The one addition
#            is a build-only override giving the build the host's network
#            (npm ci needs the registry; this engine's bridge networks reach
#            nothing outside: see ../shared/containers/setup-engine.sh);
#   checks   the setup made the certificates and the five sample files, the
#            server became healthy, each agency exit 0 with k winners, the
#            clone unchanged (nothing written into it, as root or otherwise).
#
# Its own project name, image tag and temporary directory; all removed on
# exit, whatever happens. Exit 0 only if every check holds.
set -uo pipefail
cd "$(dirname "$0")/.."

SHARED=${SHARED:-../shared}
AGENCY_TIMEOUT=300

NAME=compose-fresh-clone
. .ci/compose-lib.sh

need_engine

work=$(mktemp -d /tmp/lottery-fresh-clone.XXXXXX)
project=lottery-fresh-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')
clone=$work/loteria-nacional
export LOTTERY_IMAGE_TAG=$project
# Whatever the caller has set would be an operator's own files: a fresh clone has none.
unset LOTTERY_PKI LOTTERY_AGENCY_FILES
image=loteria-nacional:$LOTTERY_IMAGE_TAG
compose() { (cd "$clone" && docker-compose -p "$project" -f compose/dev.yaml "$@"); }

cleanup() {
  local code=$?
  if [ "$code" != 0 ] && [ -f "$work/up.log" ]; then say "--- last lines of up"; tail -n 30 "$work/up.log"; fi
  [ -d "$clone" ] && compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1
  docker image rm --no-prune "$image" >/dev/null 2>&1
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

git clone --quiet "$PWD" "$clone" || { say "FAIL git clone"; exit 1; }
say "project $project, a clone of $(git -C "$clone" log -1 --format=%h)"
before=$(cd "$clone" && find . -path ./.git -prune -o -printf '%p %U %s\n' | sort | sha256sum)
cat >"$work/build-host.yaml" <<'EOF'
services:
  setup:
    build:
      network: host
EOF
compose -f "$work/build-host.yaml" build --force-rm >"$work/build.log" 2>&1 || { say "FAIL build"; tail -n 20 "$work/build.log"; exit 1; }


# `up` as a user runs it, in the foreground; it returns once the agencies are
# done and the server is stopped below.
compose up --no-build >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 "$AGENCY_TIMEOUT"); do
  done_count=0
  for a in 1 2 3 4 5; do
    id=$(container "agency$a")
    [ -n "$id" ] && [ "$(docker inspect -f '{{.State.Status}}' "$id")" = exited ] && done_count=$((done_count + 1))
  done
  [ "$done_count" = 5 ] && break
  if ! kill -0 "$up_pid" 2>/dev/null; then break; fi
  sleep 1
done
check "server healthy (within 60 s of the agencies' exit)" healthy server
compose stop >/dev/null 2>&1
wait "$up_pid"
up_code=$?
check "up exit 0 once stopped" test "$up_code" = 0

strip() { sed 's/\x1b\[[0-9;]*m//g' "$work/up.log"; }
check "up shows the setup making the certificates" grep -q 'setup_1 *| setup: no ca.crt in .data/pki: made [0-9]* certificate files for server, localhost, 127.0.0.1' <(strip)
for a in 1 2 3 4 5; do
  winners=$([ "$a" = 1 ] && echo '1 winner' || echo "$a winners")
  check "up shows agency$a's sample file" grep -q "setup: no .data/agency-$a.csv: agency$a uploads a sample file (2000 bets, $winners)" <(strip)
  check "agency$a exit 0" test "$(inspect "agency$a" '{{.State.ExitCode}}')" = 0
  check "agency$a has its sample file's $a winners" grep -q "agency${a}_1 *| .*action: ganadores | result: success | agencia: $a | cant_ganadores: $a |" <(strip)
done
after=$(cd "$clone" && find . -path ./.git -prune -o -printf '%p %U %s\n' | sort | sha256sum)
check "the clone is as cloned: nothing written into it" test "$before" = "$after"

say "in ${SECONDS} s"
if [ "$failures" = 0 ]; then say "PASS"; exit 0; fi
say "FAIL: $failures checks"
exit 1
