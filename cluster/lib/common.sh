# Shared by the cluster/ scripts (sourced, not run). Bash 4+.
#
# A cluster's local state lives in one directory (--state DIR, or $CODEINTERVIEW_CLUSTER_STATE,
# default cluster/state):
#   cluster.env            settings every script reads as defaults (written by cluster/up)
#   nodes/ID.{pid,log,kind,addr}   one set per process started on this machine
#   redis-PORT/, sentinel-PORT/    Redis and Sentinel data and configuration (a Redis Cluster
#                          node's nodes.conf too)
#   haproxy.cfg, haproxy.sock, haproxy.log, servers   the balancer (servers: "ID ADDRESS" lines)
#   postgres/, postgres.password   the PostgreSQL started by cluster/up (data, socket, initdb
#                          log) and its postgres role's password

set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$CLUSTER_DIR/.." && pwd)
LIB_DIR="$CLUSTER_DIR/lib"
PYTHON=${PYTHON:-python3}
STATE=${CODEINTERVIEW_CLUSTER_STATE:-$CLUSTER_DIR/state}
SCRIPT_NAME=$(basename "$0")

log() { echo "$SCRIPT_NAME: $*" >&2; }
die() { echo "$SCRIPT_NAME: error: $*" >&2; exit 1; }

# Loads STATE/cluster.env (if any) without overriding variables already set by flags.
load_cluster_env() {
    local file="$STATE/cluster.env" line key value
    [[ -f "$file" ]] || return 0
    while IFS= read -r line; do
        [[ "$line" =~ ^([A-Z_]+)=(.*)$ ]] || continue
        key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        if [[ -z "${!key:-}" ]]; then printf -v "$key" '%s' "$value"; fi
    done <"$file"
}

# The codeinterview executable: --bin, $CODEINTERVIEW_BIN, cluster.env, else a build in the repo
# (release first), else build one (swift build -c release).
find_binary() {
    local candidate
    for candidate in "${BIN:-}" "${CODEINTERVIEW_BIN:-}" "$REPO_DIR/.build/release/codeinterview" "$REPO_DIR/.build/debug/codeinterview"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then BIN=$candidate; return 0; fi
    done
    command -v swift >/dev/null 2>&1 || die "no codeinterview binary found; build it (swift build -c release) or pass --bin"
    log "building codeinterview (swift build -c release) ..."
    (cd "$REPO_DIR" && swift build -c release >&2)
    BIN="$REPO_DIR/.build/release/codeinterview"
    [[ -x "$BIN" ]] || die "the build did not produce $BIN"
}

# The Redis options a node gets: --redis-cluster when set, else --sentinels/--sentinel-master,
# else --redis. One per line, each as --name=VALUE (as every value handed to a program: a value
# that begins with "-" must not be read as an option).
redis_args() {
    if [[ -n "${REDIS_CLUSTER:-}" ]]; then
        printf '%s\n' "--redis-cluster=$REDIS_CLUSTER"
    elif [[ -n "${SENTINELS:-}" ]]; then
        printf '%s\n' "--sentinels=$SENTINELS" "--sentinel-master=${SENTINEL_MASTER:-codeinterview}"
    else
        printf '%s\n' "--redis=${REDIS:-127.0.0.1:6379}"
    fi
}

# load_cluster_env for a script whose flags may name the Redis (--redis, --sentinels,
# --redis-cluster; the flag handler sets REDIS_CHOSEN=1): what a flag chose wins, so cluster.env's
# other kind of Redis does not take over.
load_cluster_env_keeping_redis() {
    if [[ -z "${REDIS_CHOSEN:-}" ]]; then load_cluster_env; return; fi
    local redis=${REDIS:-} sentinels=${SENTINELS:-} redis_cluster=${REDIS_CLUSTER:-}
    load_cluster_env
    REDIS=$redis SENTINELS=$sentinels REDIS_CLUSTER=$redis_cluster
}

# Whether the codeinterview binary can run on a Redis Cluster (the flag of the cluster-aware client).
# The whole help read first: `| grep -q` would stop reading at the match, and the binary's
# SIGPIPE on the rest fails the pipeline under pipefail (now and then, by timing).
binary_knows_redis_cluster() { local help; help=$("$BIN" gateway --help 2>&1) || true; [[ $help == *--redis-cluster* ]]; }

node_file() { echo "$STATE/nodes/$1.$2"; }

# pid of a node started here, if that process still runs (and is what we started).
node_pid() {
    local file pid
    file=$(node_file "$1" pid)
    [[ -f "$file" ]] || return 1
    pid=$(<"$file")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

node_kind() { local f; f=$(node_file "$1" kind); [[ -f "$f" ]] && cat "$f"; }
node_addr() { local f; f=$(node_file "$1" addr); [[ -f "$f" ]] && cat "$f"; }

# Starts a command detached from this shell (own session, survives the script), output to LOG;
# prints its pid.
start_detached() {
    local logfile=$1; shift
    mkdir -p "$(dirname "$logfile")"
    setsid "$@" >>"$logfile" 2>&1 </dev/null &
    echo $!
}

# Starts a node: start_node ID KIND ADDRESS command...
start_node() {
    local id=$1 kind=$2 addr=$3; shift 3
    mkdir -p "$STATE/nodes"
    if node_pid "$id" >/dev/null; then die "node $id already runs (pid $(node_pid "$id"))"; fi
    local pid
    pid=$(start_detached "$(node_file "$id" log)" "$@")
    echo "$pid" >"$(node_file "$id" pid)"
    echo "$kind" >"$(node_file "$id" kind)"
    echo "$addr" >"$(node_file "$id" addr)"
}

# Waits until PID exits (up to SECONDS); returns 1 when it did not.
wait_exit() {
    local pid=$1 seconds=$2 deadline
    deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Waits until http://ADDR/health answers 200 while PID lives.
wait_healthy() {
    local addr=$1 pid=$2 seconds=${3:-30} deadline
    deadline=$((SECONDS + seconds))
    until curl -fsS -o /dev/null --max-time 2 "http://$addr/health" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Waits until a TCP port accepts connections.
wait_port() {
    local host=$1 port=$2 seconds=${3:-20} deadline
    deadline=$((SECONDS + seconds))
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# First port from START up that nothing listens on and no node of this state dir uses.
next_free_port() {
    local host=$1 port=$2
    while ! port_free "$host" "$port" || grep -qs ":$port\$" "$STATE"/nodes/*.addr; do
        port=$((port + 1))
    done
    echo "$port"
}

short_host() { local h; h=$(hostname -s 2>/dev/null || hostname); echo "${h:-node}"; }

# The balancer's runtime API: BALANCER is a unix socket path or host:port.
haproxy_cmd() { "$PYTHON" "$LIB_DIR/haproxy.py" "$BALANCER" "$@"; }

balancer_available() {
    [[ -n "${BALANCER:-}" ]] || return 1
    if [[ "$BALANCER" == */* ]]; then [[ -S "$BALANCER" ]]; else return 0; fi
}

random_token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# render_template TEMPLATE OUTPUT KEY=VALUE...: replaces every @@KEY@@ (values may span lines).
render_template() {
    local template=$1 output=$2; shift 2
    "$PYTHON" - "$template" "$output" "$@" <<'PY'
import re, sys
template, output, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
values = dict(p.split("=", 1) for p in pairs)
text = open(template).read()
missing = set(re.findall(r"@@([A-Z_]+)@@", text)) - set(values)
if missing:
    sys.exit(f"render: no value for {', '.join(sorted(missing))}")
for key, value in values.items():
    text = text.replace(f"@@{key}@@", value)
open(output, "w").write(text)
PY
}

# Stops a node started here: SIGTERM, wait up to SECONDS, then SIGKILL. Returns 1 if it had to kill.
stop_node() {
    local id=$1 seconds=${2:-30} pid
    pid=$(node_pid "$id") || { rm -f "$(node_file "$id" pid)"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" "$seconds"; then
        log "$id (pid $pid) did not stop within ${seconds}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 5 || true
        rm -f "$(node_file "$id" pid)"
        return 1
    fi
    rm -f "$(node_file "$id" pid)"
}

# Ids of the nodes of one kind started here (running or not).
local_nodes() {
    local kind=$1 file
    for file in "$STATE"/nodes/*.kind; do
        [[ -f "$file" ]] || continue
        [[ $(<"$file") == "$kind" ]] && basename "$file" .kind
    done
    return 0
}

# PostgreSQL (the interview record): pg_* helpers, binary_knows_postgres.
# shellcheck source=postgres.sh
source "$LIB_DIR/postgres.sh"
