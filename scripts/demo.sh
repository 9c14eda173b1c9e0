#!/usr/bin/env bash
# `make demo`: the whole loop on this machine, on its embedded defaults.
#
#   1. a container engine: podman (installed with apt when we are root and it is missing),
#      its Docker-API service, and the CPU runner image (built without any registry); where
#      that is impossible, the local backend instead, labelled as such on every page;
#   2. the server on a SQLite file, an agent key registered with it, an agent;
#   3. both reference variants submitted on cpu-tiny (and the speedrun's history imported
#      when MODDED_NANOGPT names a checkout of modded-nanogpt);
#   4. `Leaderboard: http://HOST:PORT/` once the page answers. Records appear as runs finish.
#
# Settings (environment): PORT (8000), DEMO_DIR (var/demo), DEMO_BACKEND (auto|docker|local),
# DEMO_VARIANTS ("seed-recipe llmc-baseline"), DEMO_TRACK (cpu-tiny), MODDED_NANOGPT (unset).
# `scripts/demo.sh stop` (or `make demo-stop`) ends the server, agent and podman service.
# If a step fails, the script says which one and stops whatever it had started.
# No command's output goes to a reader that may close early (`| head`): output is captured
# whole and cut afterwards, so no step can die of a closed pipe.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${VENV:-$ROOT/.venv}/bin
PORT=${PORT:-8000}
HOST=127.0.0.1
DEMO_DIR=$(mkdir -p "${DEMO_DIR:-var/demo}" && cd "${DEMO_DIR:-var/demo}" && pwd)
BACKEND=${DEMO_BACKEND:-auto}
# The seed recipe first: its three runs make a record within minutes; the llm.c baseline's
# (about 11 minutes each on 2 cores) follow, and show as an attempt that did not beat it.
VARIANTS=${DEMO_VARIANTS:-seed-recipe llmc-baseline}
TRACK=${DEMO_TRACK:-cpu-tiny}
URL="http://$HOST:$PORT"
DB="$DEMO_DIR/speedrun.db"
export SPEEDRUN_DATA_DIR="$DEMO_DIR/data"

say() { printf 'demo: %s\n' "$*"; }
first_line() { printf '%s\n' "${1%%$'\n'*}"; }
last_line() { printf '%s\n' "${1##*$'\n'}"; }

stop_demo() {
  for name in agent server podman; do
    pidfile="$DEMO_DIR/$name.pid"
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      # Each was started in its own session: end the whole group (torchrun's children too).
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

start_bg() {  # start_bg NAME COMMAND... : in its own session, output to NAME.log
  local name=$1; shift
  setsid "$@" >"$DEMO_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$DEMO_DIR/$name.pid"
}

wait_for() {  # wait_for WHAT SECONDS COMMAND...
  local what=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  say "$what did not come up; see $DEMO_DIR/*.log" >&2
  return 1
}

if [ "${1:-start}" = "stop" ]; then
  stop_demo
  say "stopped"
  exit 0
fi

stop_demo  # a previous demo in the same folder
mkdir -p "$SPEEDRUN_DATA_DIR"

# On any failure: name the step, and stop what this run started (server, agent, podman).
STEP="setup"
DONE=0
on_exit() {
  local rc=$?
  if [ "$DONE" != 1 ]; then
    [ "$rc" = 0 ] && rc=1
    say "failed at step: $STEP (exit $rc); stopping what the demo started" >&2
    stop_demo
    exit "$rc"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# -- 1. the container engine and the runner image -------------------------------------------
use_docker() {
  command -v podman >/dev/null || { [ "$(id -u)" = 0 ] && bash scripts/system-deps.sh podman; } \
    || return 1
  command -v podman >/dev/null || return 1
  export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/docker/podman/containers.conf}
  STEP="podman's Docker-API service"
  # in the demo folder: conmon leaves files (an `oom` mark) in its working folder
  (cd "$DEMO_DIR" && start_bg podman podman system service --time=0 "unix://$DEMO_DIR/podman.sock")
  export DOCKER_HOST="unix://$DEMO_DIR/podman.sock"
  wait_for "podman's API" 60 "$BIN/python" -c \
    "import docker; docker.DockerClient(base_url='$DOCKER_HOST').ping()" || return 1
  STEP="the CPU runner image"
  say "building the CPU runner image (a few minutes the first time; skipped when unchanged)"
  "$BIN/speedrun" image build cpu || return 1
}

STEP="the container engine"
case "$BACKEND" in
  docker) use_docker || { say "the docker backend is unavailable" >&2; exit 1; } ;;
  local) ;;
  auto)
    if use_docker; then BACKEND=docker; else
      stop_demo  # a half-started podman service
      say "no usable container engine: falling back to the LOCAL backend (no sandbox);"
      say "its runs are labelled 'local backend' on every page"
      BACKEND=local
    fi ;;
  *) say "DEMO_BACKEND must be auto, docker or local" >&2; exit 2 ;;
esac

# -- 2. server, agent key, agent -----------------------------------------------------------------
server_env=()
if [ "$BACKEND" = local ]; then
  # Local runs never count toward records in production; the demo lets them, and says so.
  server_env=(env SPEEDRUN_EXTRA_RECORD_BACKENDS='["local"]'
              SPEEDRUN_NOTICE="Demo on the local backend: runs are not sandboxed and would not count as records in production.")
fi
STEP="the server"
start_bg server "${server_env[@]}" "$BIN/speedrun" serve --db "$DB" --host "$HOST" --port "$PORT"
wait_for "the server" 60 curl -sf "$URL/api/v1/health"

STEP="the agent's key"
KEY="$DEMO_DIR/agent.key"
[ -f "$KEY" ] || "$BIN/speedrun" keys init --key "$KEY" >/dev/null
key_id=$("$BIN/python" -c "from speedrun import signing; print(signing.key_id(signing.load_public_key('$KEY.pub')))")
runners=$(curl -sf "$URL/api/v1/runners")
if [[ "$runners" != *"$key_id"* ]]; then
  "$BIN/speedrun" admin runner-add "demo-agent-$key_id" "$KEY.pub" --db "$DB"
fi
STEP="a submitter's token"
created=$("$BIN/speedrun" admin token-create demo --db "$DB")
TOKEN=$(last_line "$created")
STEP="the held-out secret"
# The deployment's secret: cpu-tiny's language and scored tokens derive from it, so no
# submission can know them (speedrun/data/heldout.py). One per demo folder, kept across restarts.
HELD_OUT="$DEMO_DIR/held-out.secret"
[ -f "$HELD_OUT" ] || "$BIN/speedrun" keys held-out "$HELD_OUT" >/dev/null
STEP="the agent"
start_bg agent "$BIN/speedrun" agent --server "$URL" --key "$KEY" --backend "$BACKEND" \
  --work-dir "$DEMO_DIR/agent" --poll 2 --held-out "$HELD_OUT"

# -- 3. submissions and history --------------------------------------------------------------------
for variant in $VARIANTS; do
  STEP="submitting $variant"
  path="records/$variant/train_gpt.py"
  [ -f "$path" ] || { say "no variant $path" >&2; exit 2; }
  answer=$("$BIN/speedrun" submit "$path" --track "$TRACK" --server "$URL" --token "$TOKEN" \
    --description "reference variant $variant (make demo)")
  first_line "$answer"
done
if [ -n "${MODDED_NANOGPT:-}" ]; then
  STEP="importing the speedrun's history"
  say "importing the speedrun's history from $MODDED_NANOGPT"
  imported=$("$BIN/speedrun" records import "$MODDED_NANOGPT" --db "$DB")
  printf '%s\n' "$imported" | tail -n 5
fi

STEP="the leaderboard page"
wait_for "the leaderboard page" 30 curl -sf "$URL/"
DONE=1
say "backend: $BACKEND; logs in $DEMO_DIR/{server,agent}.log; stop with: make demo-stop"
say "records appear as the runs finish (seed recipe: ~2 minutes a run on 2 cores; baseline: ~11)"
echo "Leaderboard: $URL/"
