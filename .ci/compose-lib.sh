# What the Compose runs in .ci share; sourced by each after it sets NAME (how
# its lines begin) and SHARED. Defines their lines and checks, the engine
# they need, and how they find a service's container and its health.

say() { printf '%s: %s\n' "$NAME" "$*"; }
failures=0
check() { # check DESCRIPTION COMMAND...: runs the command; a failure is counted and said
  local what=$1; shift
  if "$@"; then say "ok   $what"; else say "FAIL $what"; failures=$((failures + 1)); fi
}
now() { date +%s.%N; }
log_time() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; } # for docker logs --since
since() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }

# A Docker engine, docker-compose and the node:26-slim base image, made by
# $SHARED/containers/setup-engine.sh when any is missing.
need_engine() {
  if ! docker info >/dev/null 2>&1 || ! docker image inspect node:26-slim >/dev/null 2>&1 || ! command -v docker-compose >/dev/null; then
    say "no engine or no node:26-slim: running $SHARED/containers/setup-engine.sh"
    "$SHARED/containers/setup-engine.sh" || { say "FAIL setup-engine.sh"; exit 1; }
  fi
}

# A service's container in this run's project ($project), and a field of it.
container() { docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$1"; }
inspect() { docker inspect -f "$2" "$(container "$1")"; }
agency_names() { seq 1 "$agencies" | sed 's/^/agency/'; }
health() { inspect "$1" '{{if .State.Health}}{{.State.Health.Status}}{{end}}'; }

# The agencies start with the server, not after its health check, and may be
# done before its first check (an interval after the start): waited for,
# bounded (60 s), since the health check stays for operators and restarts.
healthy() { # healthy SERVICE
  local i
  for i in $(seq 1 120); do
    [ "$(health "$1")" = healthy ] && return 0
    sleep 0.5
  done
  return 1
}

# A run of $FILE on the course dataset ($DATASET), its own in everything:
# a temporary directory ($work, with logs/ and the agency files), a project
# name, an image tag and a PKI directory. On exit, whatever happens, the
# project's containers, network and volumes, the image's tag and $work are
# removed (with each log's last lines first if the run failed); the image's
# layers stay, untagged, as the next build's cache.
start_dataset_run() { # start_dataset_run KIND (run, scale)
  work=$(mktemp -d "/tmp/lottery-compose-$1.XXXXXX")
  project=lottery-$1-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')
  export LOTTERY_IMAGE_TAG=$project
  export LOTTERY_AGENCY_FILES=$work/agency-files
  export LOTTERY_PKI=$work/pki
  image=loteria-nacional:$LOTTERY_IMAGE_TAG
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  mkdir -p "$work/logs" "$LOTTERY_AGENCY_FILES"
  python3 -m zipfile -e "$DATASET" "$LOTTERY_AGENCY_FILES" || { say "FAIL cannot unzip $DATASET"; exit 1; }
  chmod 0644 "$LOTTERY_AGENCY_FILES"/*.csv
  agencies=$(compose config --services | grep -c '^agency[0-9]')
  say "project $project, $agencies agencies, $(cat "$LOTTERY_AGENCY_FILES"/agency-*.csv | grep -c .) bets in the course dataset"
}
compose() { docker-compose -p "$project" -f "$FILE" "$@"; }
cleanup() {
  local code=$?
  if [ "$code" != 0 ] && [ -d "$work/logs" ]; then
    for log in "$work"/logs/*; do say "--- last lines of $(basename "$log")"; tail -n 15 "$log"; done
  fi
  # A container left paused (a run stopped while one was frozen) cannot be stopped until thawed.
  compose unpause >/dev/null 2>&1
  compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1
  docker image rm --no-prune "$image" >/dev/null 2>&1
  rm -rf "$work"
  exit "$code"
}

# Each agency: exit 0, and the winners it logged are exactly the documents of
# its own file's bets on 7574 (the file read as CSV, not trusted to be tidy).
check_agencies() {
  local label=$1 a id
  for a in $(agency_names); do
    id=${a#agency}
    # This run's lines only: `up` again restarts the same containers.
    docker logs --since "$(inspect "$a" '{{.State.StartedAt}}')" "$(container "$a")" >"$work/logs/$a-$label" 2>&1
    check "$a exit 0 ($label)" test "$(inspect "$a" '{{.State.ExitCode}}')" = 0
    check "$a winners are its file's ($label)" python3 - "$LOTTERY_AGENCY_FILES/agency-$id.csv" "$work/logs/$a-$label" <<'EOF'
import csv, re, sys
with open(sys.argv[1], newline='', encoding='utf-8') as f:
    want = sorted(row[2] for row in csv.reader(f) if row and row[4].strip() == '7574')
lines = [re.sub(r'\x1b\[[0-9;]*m', '', l) for l in open(sys.argv[2], encoding='utf-8')]
said = [l for l in lines if 'action: ganadores | result: success' in l]
if len(said) != 1:
    sys.exit(f'  {len(said)} winners lines')
m = re.search(r'cant_ganadores: (\d+)(?: \| dnis: (\S*))?', said[0])
got = sorted(d for d in (m.group(2) or '').split(',') if d)
if got != want or int(m.group(1)) != len(want):
    sys.exit(f'  said {m.group(1)} {got}, its file has {len(want)} {want}')
EOF
  done
}

# A CSV of stored bets (bets.csv, or lottery-export's output with its header
# when HEADER is given) holds every row of the agencies' files exactly once,
# the agency's id before each; prints the counts.
holds_every_row_once() { # holds_every_row_once FILE [HEADER]
  python3 - "$LOTTERY_AGENCY_FILES" "$agencies" "$1" "${2:-}" "$NAME" <<'EOF_PY'
import csv, sys
from collections import Counter
files, agencies, stored_file, header, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
sent = Counter()
for a in range(1, agencies + 1):
    with open(f'{files}/agency-{a}.csv', newline='', encoding='utf-8') as f:
        sent.update(tuple([str(a)] + row) for row in csv.reader(f) if row)
with open(stored_file, newline='', encoding='utf-8') as f:
    rows = [row for row in csv.reader(f) if row]
if header and (not rows or rows[0] != header.split(',')):
    sys.exit(f'{name}:      the first line is {rows[0] if rows else None}, not the header {header}')
stored = Counter(tuple(row) for row in (rows[1:] if header else rows))
missing, extra = sent - stored, stored - sent
print(f'{name}:      {sum(stored.values())} rows stored, {sum(sent.values())} sent, {sum(missing.values())} missing, {sum(extra.values())} extra or repeated')
sys.exit(1 if missing or extra else 0)
EOF_PY
}
