#!/usr/bin/env bash
# The Compose run past one machine: compose/scale.yaml, exactly as committed,
# under a real Docker engine, on the course dataset.
#
#   engine    a Docker engine, node:26-slim and a stand-in for postgres:15
#             (../shared/containers/setup-engine.sh, then postgres-image.sh,
#             when any is missing: there is no Docker Hub here);
#   build     the one image, the build given the host's network (as in
#             compose-run.sh);
#   pki       certificates for mutual TLS naming both front-ends;
#   run       `up` with the course's agency files: PostgreSQL healthy, both
#             front-ends healthy, each agency exit 0 with exactly the winners
#             of its own file, one draw between them; then, from a container
#             on the project's network, lottery-export --store holding every
#             input row exactly once and lottery-verify --store exit 0;
#   shared    `up` again with both front-ends up: each agency answered by the
#             front-end it lists first;
#   frozen    server2 frozen (docker pause: its processes stopped, its
#             kernel still taking connections, as a machine that hangs) and
#             `up` again: the agencies that list server2 first leave it after
#             their reply timeout and server1 answers every agency; then
#             server2 thawed;
#   failover  server1 killed (SIGKILL) and `up` again: every agency, those
#             that list server1 first included, gets its winners again
#             through server2, and nothing is stored twice.
#
# Like compose-run.sh it disturbs nothing else on the engine (its own project,
# image tag and temporary directory) and removes what it made on exit.
set -uo pipefail
cd "$(dirname "$0")/.."

SHARED=${SHARED:-../shared}
DATASET=$SHARED/data/tp0-dataset.zip
FILE=compose/scale.yaml
AGENCY_TIMEOUT=600
STORE=postgres://lottery@db:5432/lottery

NAME=compose-scale-run
. .ci/compose-lib.sh

if [ ! -f "$DATASET" ]; then say "no course dataset at $DATASET: skipped"; exit 0; fi

# --- engine --------------------------------------------------------------------------------------
need_engine
if ! docker image inspect postgres:15 >/dev/null 2>&1; then
  say "no postgres:15: running $SHARED/containers/postgres-image.sh"
  "$SHARED/containers/postgres-image.sh" || { say "FAIL postgres-image.sh"; exit 1; }
fi

start_dataset_run scale

# --- pki -----------------------------------------------------------------------------------------
node_modules/.bin/node src/bin/lottery-pki.mjs --out "$LOTTERY_PKI" --agencies "$agencies" --hosts server1,server2,localhost,127.0.0.1 \
  >"$work/logs/pki" 2>&1 || { say "FAIL lottery-pki"; exit 1; }
if [ "$(id -u)" != 1000 ]; then chown -R 1000:1000 "$LOTTERY_PKI" || { say "FAIL the keys must belong to 1000:1000"; exit 1; }; fi

# --- build ---------------------------------------------------------------------------------------
compose config | python3 -c '
import sys, yaml
built = [name for name, service in yaml.safe_load(sys.stdin)["services"].items() if "build" in service]
print(yaml.safe_dump({"services": {name: {"build": {"network": "host"}} for name in built}}))
' >"$work/build-host.yaml" || { say "FAIL cannot read $FILE"; exit 1; }
t=$(now)
compose -f "$work/build-host.yaml" build --force-rm >"$work/logs/build" 2>&1 || { say "FAIL build"; exit 1; }
say "built in $(since "$t") s"

# --- helpers -------------------------------------------------------------------------------------

run_agencies() {
  local label=$1 t; t=$(now)
  compose up -d --no-build >"$work/logs/up-$label" 2>&1 || { say "FAIL up ($label)" >&2; return 1; }
  local ids; ids=$(for a in $(agency_names); do container "$a"; done)
  timeout "$AGENCY_TIMEOUT" docker wait $ids >/dev/null || { say "FAIL agencies not done within $AGENCY_TIMEOUT s ($label)" >&2; return 1; }
  since "$t"
}


# A program of the image on the project's network, as an operator would run it beside the front-ends.
on_network() { docker run --rm --network "$network" -v "$LOTTERY_PKI:/pki:ro" "$image" node "$@"; }

check_export() {
  local label=$1
  on_network src/bin/lottery-export.mjs --store "$STORE" >"$work/export-$label.csv" 2>"$work/logs/export-$label" \
    || { say "FAIL lottery-export ($label)"; failures=$((failures + 1)); return; }
  check "lottery-export --store holds every input row exactly once ($label)" \
    holds_every_row_once "$work/export-$label.csv" agency,first_name,last_name,document,birthdate,number
}

# --- run -----------------------------------------------------------------------------------------
up_s=$(run_agencies first) || exit 1
say "up -> last agency exit: ${up_s} s"
check "db healthy" test "$(health db)" = healthy
check "server1 healthy (within 60 s of the agencies' exit)" healthy server1
check "server2 healthy (within 60 s of the agencies' exit)" healthy server2
check_agencies first
for s in server1 server2; do docker logs "$(container "$s")" >"$work/logs/$s-first" 2>&1; done
# The database holds the one draw; a front-end that learned of it from the other logs it too, with the same digest.
draws=$(docker exec "$(container db)" psql -U lottery -d lottery -Atc "select count(*) from records where kind = 'draw'")
check "one draw between the two front-ends (draw records: $draws)" test "$draws" = 1
digests=$(cat "$work/logs/server1-first" "$work/logs/server2-first" | grep 'action: sorteo | result: success' | grep -o 'digest: [0-9a-f]*' | sort -u | wc -l)
check "every front-end that logged the draw logged the same digest" test "$digests" = 1
network=$(inspect server1 '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}')
check_export first
verify() { on_network src/bin/lottery-verify.mjs --store "$STORE" >"$work/logs/verify-$1" 2>&1; }
check "lottery-verify --store: exit 0" verify first

# --- shared --------------------------------------------------------------------------------------
# The agencies again, both front-ends now up: each is answered by the front-end
# it lists first (server1 for the odd agencies, server2 for the even ones), so
# the load is shared. (In the first run it depends on which front-end listened
# first: an agency whose first front-end was not yet listening stays with the
# other, as it should.)
# The answers are counted from before `up`: an agency whose container started
# before another's may have had its answer before that one started.
shared_from=$(log_time)
shared_s=$(run_agencies shared) || exit 1
say "both front-ends up, up again -> last agency exit: ${shared_s} s"
check_agencies shared
answered_by() { # answered_by FRONT-END SINCE -> the agencies it gave winners to since then, sorted
  docker logs --since "$2" "$(container "$1")" 2>&1 \
    | grep 'action: consulta_ganadores | result: success' | grep -o 'agencia: [0-9]*' | grep -o '[0-9]*' | sort -n | tr '\n' ' '
}
odd=$(seq 1 2 "$agencies" | tr '\n' ' ') even=$(seq 2 2 "$agencies" | tr '\n' ' ')
by1=$(answered_by server1 "$shared_from") by2=$(answered_by server2 "$shared_from")
check "server1 answered the agencies that list it first ($odd; it answered ${by1:-none})" test "$by1" = "$odd"
check "server2 answered the agencies that list it first ($even; it answered ${by2:-none})" test "$by2" = "$even"

# --- frozen --------------------------------------------------------------------------------------
# server2 frozen: a connection to it is taken by its kernel and never answered, neither the TLS
# handshake nor anything after. Each agency that lists it first waits its reply timeout (30 s by
# default) and goes to server1; none waits the 90 s a single server is given for a handshake turn.
docker pause "$(container server2)" >/dev/null
frozen_from=$(log_time)
frozen_s=$(run_agencies frozen) || { docker unpause "$(container server2)" >/dev/null; exit 1; }
say "server2 frozen, up again -> last agency exit: ${frozen_s} s"
check_agencies frozen
all=$(seq 1 "$agencies" | tr '\n' ' ')
by1=$(answered_by server1 "$frozen_from")
check "server1 answered every agency ($all; it answered ${by1:-none})" test "$by1" = "$all"
left_frozen() { # agency -> whether it logged leaving server2 for server1 after a handshake it never got
  grep -q 'code: CONNECT_TIMEOUT | error: no TLS handshake with server2:12345 within 30 s .*siguiente: server1:12345' "$work/logs/$1-frozen"
}
for a in $(agency_names); do
  id=${a#agency}
  if [ $((id % 2)) -eq 0 ]; then check "$a left the frozen server2 after its reply timeout" left_frozen "$a"; fi
done
check "none waited a single server's 90 s handshake wait (${frozen_s} s < 90 s)" awk -v s="$frozen_s" 'BEGIN { exit !(s < 90) }'
docker unpause "$(container server2)" >/dev/null
check "server2 healthy again once thawed" healthy server2

# --- failover ------------------------------------------------------------------------------------
# server1 gone for good (SIGKILL, then its container removed, so that its
# name resolves to nothing): every agency, half of them listing server1
# first, reaches the lottery through server2 alone.
docker kill --signal KILL "$(container server1)" >/dev/null
compose rm -fsv server1 >"$work/logs/rm-server1" 2>&1
t=$(now) again_from=$(log_time)
compose up -d --no-build --no-deps $(agency_names) >"$work/logs/up-again" 2>&1 || { say "FAIL up again"; exit 1; }
ids=$(for a in $(agency_names); do container "$a"; done)
timeout "$AGENCY_TIMEOUT" docker wait $ids >/dev/null || { say "FAIL agencies not done within $AGENCY_TIMEOUT s (again)"; exit 1; }
say "server1 killed, up again -> last agency exit: $(since "$t") s"
check "server1 is gone" test -z "$(container server1)"
check_agencies again
docker logs --since "$again_from" "$(container server2)" >"$work/logs/server2-again" 2>&1
check "no second draw, and nothing stored again" python3 - "$work/logs/server2-again" <<'EOF'
import re, sys
lines = [re.sub(r'\x1b\[[0-9;]*m', '', l) for l in open(sys.argv[1], encoding='utf-8')]
again = [l for l in lines if ('action: apuesta_recibida' in l and 'cantidad: 0' not in l) or 'action: sorteo' in l]
sys.exit(0 if not again else f'  {len(again)} new batches or draws')
EOF
check_export again
check "the export is unchanged by the second run" cmp -s "$work/export-first.csv" "$work/export-again.csv"

say "in ${SECONDS} s"
if [ "$failures" = 0 ]; then say "PASS"; exit 0; fi
say "FAIL: $failures checks"
exit 1
