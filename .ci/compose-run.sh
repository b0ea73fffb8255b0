#!/usr/bin/env bash
# The Compose run: compose/dev.yaml, exactly as committed, under a real Docker
# engine, on the course dataset.
#
#   engine    a Docker engine and the node:26-slim base image, made by
#             ../shared/containers/setup-engine.sh when either is missing;
#   build     the one image, with an override that only gives the build the
#             host's network (npm ci needs the registry; the engine's bridge
#             networks reach nothing outside), then once more, all cached;
#   pki       an operator's certificates for mutual TLS, made by lottery-pki
#             (LOTTERY_PKI), which the setup service must take over its own;
#   native    the same dataset natively (.ci/course-dataset.ts, over mutual
#             TLS too), as the yardstick for the time `up` takes, printed beside it;
#   run       `up` with the course's agency files (LOTTERY_AGENCY_FILES): the
#             agencies start with the server and retry until it listens, then:
#             the server healthy (its health check pings as the monitor) and
#             speaking TLS only, each agency exit 0 with exactly the winners
#             of its own file, bets.csv in the volume holding every input row
#             exactly once and owned by node (1000:1000);
#   stop      `stop`: the server logs a graceful shutdown and exits 0 within
#             its stop_grace_period, never having been restarted;
#   again     `up` on the kept volume: the agencies find their bets taken and
#             the draw done, get the same winners, and bets.csv is unchanged.
#
# It disturbs nothing else on the engine: its own project name (so its own
# containers, network and volume), its own image tag, its own temporary
# directory; no tracked file is touched. Everything it made is removed on
# exit, whatever happens; only the image's layers stay, untagged, as the
# build cache of the next run. Exit 0 only if every check holds.
set -uo pipefail
cd "$(dirname "$0")/.."

SHARED=${SHARED:-../shared}   # shared/ beside the checkout, as in CI
DATASET=$SHARED/data/tp0-dataset.zip
FILE=compose/dev.yaml
AGENCY_TIMEOUT=600   # seconds for the agencies of one `up` to finish

NAME=compose-run
. .ci/compose-lib.sh

if [ ! -f "$DATASET" ]; then say "no course dataset at $DATASET: skipped"; exit 0; fi

# --- engine --------------------------------------------------------------------------------------
need_engine

start_dataset_run run

# --- pki -----------------------------------------------------------------------------------------
# The name agencies reach the server by (its service) and the one its health check uses.
node_modules/.bin/node src/bin/lottery-pki.mjs --out "$LOTTERY_PKI" --agencies "$agencies" --hosts server,localhost,127.0.0.1 >"$work/logs/pki" 2>&1 \
  || { say "FAIL lottery-pki"; exit 1; }
# Left as lottery-pki wrote them (keys 0600, owned by whoever ran it): the
# setup service copies them for the programs' user, 1000:1000.

# --- build ---------------------------------------------------------------------------------------
# --force-rm: a failed step leaves no container behind.
# The override names only the services that build, and only for the build.
compose config | python3 -c '
import sys, yaml
built = [name for name, service in yaml.safe_load(sys.stdin)["services"].items() if "build" in service]
print(yaml.safe_dump({"services": {name: {"build": {"network": "host"}} for name in built}}))
' >"$work/build-host.yaml" || { say "FAIL cannot read $FILE"; exit 1; }
builds=$(grep -c 'network: host' "$work/build-host.yaml")
t=$(now)
compose -f "$work/build-host.yaml" build --force-rm >"$work/logs/build" 2>&1 || { say "FAIL build"; exit 1; }
build_s=$(since "$t")
t=$(now)
compose -f "$work/build-host.yaml" build --force-rm >"$work/logs/build-again" 2>&1 || { say "FAIL second build"; exit 1; }
rebuild_s=$(since "$t")
check "one image built, by $builds service (build ${build_s} s, again ${rebuild_s} s)" test "$builds" = 1

# --- helpers for the checks ----------------------------------------------------------------------
# The docker CLI, not docker-compose, for the many small look-ups: it answers in milliseconds.

# up, then wait for every agency to exit; prints seconds from `up` to the last exit.
run_agencies() {
  local label=$1 t; t=$(now)
  compose up -d --no-build >"$work/logs/up-$label" 2>&1 || { say "FAIL up ($label)" >&2; return 1; }
  local ids; ids=$(for a in $(agency_names); do container "$a"; done)
  timeout "$AGENCY_TIMEOUT" docker wait $ids >/dev/null || { say "FAIL agencies not done within $AGENCY_TIMEOUT s ($label)" >&2; return 1; }
  local last; last=$(docker inspect -f '{{.State.FinishedAt}}' $ids | sort | tail -n 1)
  # Where the time went, for the log: when each container started, from `up`.
  local a; at() { echo "$(since "$t" "$(date -d "$(inspect "$1" '{{.State.StartedAt}}')" +%s.%N)")"; }
  say "$label: from up, setup started at $(at setup) s, server at $(at server) s, agencies at $(for a in $(agency_names); do at "$a"; done | sort -n | sed -n '1p;$p' | paste -sd-) s" >&2
  since "$t" "$(date -d "$last" +%s.%N)"
}


# bets.csv as the server wrote it, read through the image from the volume.
read_bets() {
  docker run --rm --network none -v "$volume:/data:ro" --entrypoint "$1" "$image" "${@:2}"
}

# --- native yardstick ----------------------------------------------------------------------------
# The same work on this machine, now, without containers: what `up` is
# compared with. The median of three, so that one run the machine slowed
# does not flatter (or shame) the comparison.
for i in 1 2 3; do
  node_modules/.bin/node .ci/course-dataset.ts "$LOTTERY_AGENCY_FILES" >"$work/logs/native-$i" 2>&1 || { say "FAIL the native course run"; exit 1; }
  grep -o '[0-9.]* s from server start' "$work/logs/native-$i" | cut -d' ' -f1
done >"$work/native-seconds"
native_s=$(sort -n "$work/native-seconds" | sed -n 2p)
say "native course run (mutual TLS) -> last agency exit: ${native_s} s (median of $(paste -sd' ' "$work/native-seconds"))"

# --- run -----------------------------------------------------------------------------------------
up_s=$(run_agencies first) || exit 1
say "up -> last agency exit: ${up_s} s, native ${native_s} s: $(awk -v u="$up_s" -v n="$native_s" 'BEGIN { printf "%.2f", u / n }')× the native run"
check "server healthy (within 60 s of the agencies' exit)" healthy server
check_agencies first
# The operator's PKI takes precedence over the one the setup would make.
docker logs "$(container setup)" >"$work/logs/setup-first" 2>&1
check "the setup took the operator's certificates" grep -q "^setup: certificates from \$LOTTERY_PKI ($LOTTERY_PKI)\$" "$work/logs/setup-first"
check "the server's CA is the operator's" cmp -s "$LOTTERY_PKI/ca.crt" <(docker run --rm --network none -v "${project}_server-inputs:/input:ro" --entrypoint cat "$image" /input/ca.crt)
docker logs "$(container server)" >"$work/logs/server-first" 2>&1
check "server drew once" test "$(grep -c 'action: sorteo | result: success' "$work/logs/server-first")" = 1
network=$(inspect server '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}')
# A PING from another container on the project's network: answered for the
# monitor's certificate, refused without one (the same network, so the
# refusal is the server's, not the network's).
ping_from_network() {
  docker run --rm --network "$network" -v "${project}_server-inputs:/input:ro" "$image" \
    node src/bin/lottery-ping.mjs --server server:12345 --timeout 5 "$@" >>"$work/logs/ping" 2>&1
}
refused() { ! "$@"; }
check "a PING as the monitor, over TLS, is answered" ping_from_network --tls-ca /input/ca.crt --tls-cert /input/monitor.crt --tls-key /input/monitor.key
check "a plaintext PING is refused: mutual TLS only" refused ping_from_network
volume=$(inspect server '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}')
check "bets.csv owned by node, 1000:1000" test "$(read_bets stat -c %u:%g /data/bets.csv)" = 1000:1000
read_bets cat /data/bets.csv >"$work/bets-first.csv"
check "bets.csv holds every input row exactly once" holds_every_row_once "$work/bets-first.csv"

# --- graceful stop -------------------------------------------------------------------------------
grace=$(compose config | python3 -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["services"]["server"]["stop_grace_period"].rstrip("s"))')
t=$(now)
compose stop >"$work/logs/stop" 2>&1
stop_s=$(since "$t")
docker logs "$(container server)" >"$work/logs/server-stop" 2>&1
check "server exit 0 after stop (137 would be a kill at the end of the grace period)" test "$(inspect server '{{.State.ExitCode}}')" = 0
check "server logged a graceful shutdown" grep -q 'action: shutdown | result: success' "$work/logs/server-stop"
check "stop within the grace period (${stop_s} s < ${grace} s)" awk -v s="$stop_s" -v g="$grace" 'BEGIN { exit !(s < g) }'
check "server never restarted" test "$(inspect server '{{.RestartCount}}')" = 0

# --- up again on the kept volume -----------------------------------------------------------------
again_s=$(run_agencies again) || exit 1
say "up again -> last agency exit: ${again_s} s"
check_agencies again
docker logs --since "$(inspect server '{{.State.StartedAt}}')" "$(container server)" >"$work/logs/server-again" 2>&1
check "server recovered the draw and stored nothing again" python3 - "$work/logs/server-again" <<'EOF'
import re, sys
lines = [re.sub(r'\x1b\[[0-9;]*m', '', l) for l in open(sys.argv[1], encoding='utf-8')]
recovered = [l for l in lines if 'action: recover | result: success' in l and 'sorteo: true' in l]
stored = [l for l in lines if 'action: apuesta_recibida' in l or 'action: sorteo' in l]
sys.exit(0 if recovered and not stored else f'  recover lines {len(recovered)}, new batches or draws {len(stored)}')
EOF
read_bets cat /data/bets.csv >"$work/bets-again.csv"
check "bets.csv unchanged by the second run" cmp -s "$work/bets-first.csv" "$work/bets-again.csv"

say "in ${SECONDS} s: build ${build_s} s (again, cached: ${rebuild_s} s) | native course run ${native_s} s | up -> last agency exit ${up_s} s | stop ${stop_s} s (grace ${grace} s) | up again on the kept volume -> last agency exit ${again_s} s"
if [ "$failures" = 0 ]; then say "PASS"; exit 0; fi
say "FAIL: $failures checks"
exit 1
