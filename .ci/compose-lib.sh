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
