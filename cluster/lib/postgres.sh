# PostgreSQL (the interview record) for scripts/dev and cluster/up: Debian's server binaries,
# a data directory made once by initdb, a server on one port. Sourced, not run; Bash 4+.
#
# initdb and postgres refuse to run as root: as root they run as the `postgres` user (created by
# Debian's postgresql package) through setpriv, and the directory is theirs. Its parent must let
# that user through: when it does not (a repository under /root), the data goes to
# /var/tmp/codeinterview-postgres/<a hash of the wanted path> and a note says so.

# The newest /usr/lib/postgresql/N/bin holding the server (pg_config --bindir names the client's
# directory, which may lack it), else the directory of `postgres` on PATH.
pg_bindir() {
    local dir best="" version best_version=-1
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/postgres" ]] || continue
        version=${dir%/bin}; version=${version##*/}
        [[ "$version" =~ ^[0-9]+$ ]] || version=0
        if ((version > best_version)); then best=$dir best_version=$version; fi
    done
    if [[ -z "$best" ]] && command -v postgres >/dev/null 2>&1; then best=$(dirname "$(command -v postgres)"); fi
    [[ -n "$best" ]] || return 1
    echo "$best"
}

# What runs a command as the server's user, one word a line: setpriv to postgres when this
# shell is root, else nothing. For a server in the background, put it before the command
# (setpriv execs, so $! is the postmaster's pid; a function run with & would be a subshell's).
pg_run_prefix() {
    if ((EUID == 0)); then printf '%s\n' setpriv --reuid=postgres --regid=postgres --init-groups --; fi
}

# Runs a command (in the foreground) as the server's user.
pg_run() {
    local prefix
    mapfile -t prefix < <(pg_run_prefix)
    "${prefix[@]}" "$@"
}

# pg_dir WANTED: prints the directory to keep the server in: WANTED, or (as root, when the
# postgres user cannot reach it) one under /var/tmp. Creates it, owned by the server's user.
pg_dir() {
    local wanted=$1 dir
    mkdir -p "$wanted"
    dir=$(cd "$wanted" && pwd)
    if ((EUID == 0)); then
        id postgres >/dev/null 2>&1 || { echo "no 'postgres' user to run PostgreSQL as (install Debian's postgresql: scripts/setup)" >&2; return 1; }
        chown postgres:postgres "$dir"
        chmod 0700 "$dir"
        if ! pg_run test -w "$dir" 2>/dev/null; then
            local fallback
            fallback=/var/tmp/codeinterview-postgres/$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
            mkdir -p "$fallback"
            chmod 0755 /var/tmp/codeinterview-postgres
            chown postgres:postgres "$fallback"
            chmod 0700 "$fallback"
            echo "note: the postgres user cannot reach $dir; PostgreSQL's data is in $fallback" >&2
            dir=$fallback
        fi
    fi
    echo "$dir"
}

# pg_init DIR [PASSWORD]: initdb into DIR/data unless it holds a cluster already. Without a
# password: trust (the server listens on loopback only: scripts/dev). With one: the postgres
# role gets it, TCP connections need it (scram-sha-256), also from the machine's own networks
# (samenet: the other machines of a cluster); the Unix socket (in DIR, the postgres user's
# alone) stays trusted.
pg_init() {
    local dir=$1 password=${2:-} bindir pwfile auth=()
    [[ -s "$dir/data/PG_VERSION" ]] && return 0
    bindir=$(pg_bindir) || { echo "PostgreSQL's server is not installed (scripts/setup installs it)" >&2; return 1; }
    if [[ -n "$password" ]]; then
        pwfile="$dir/.pwfile"
        (umask 077; printf '%s\n' "$password" >"$pwfile")
        ((EUID == 0)) && chown postgres:postgres "$pwfile"
        auth=(--auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile")
    else
        auth=(--auth=trust)
    fi
    pg_run "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C "${auth[@]}" >"$dir/initdb.log" 2>&1 || {
        rm -f "${pwfile:-}"
        echo "initdb failed; see $dir/initdb.log" >&2
        return 1
    }
    rm -f "${pwfile:-}"
    if [[ -n "$password" ]]; then
        printf '# The cluster'"'"'s other machines (added by cluster/up).\nhost all all samenet scram-sha-256\n' >>"$dir/data/pg_hba.conf"
    fi
}

# pg_server_command DIR PORT LISTEN: the command line of the server (fsync stays on: this is
# data to keep). Its Unix socket goes to DIR, not /var/run/postgresql (which may not exist).
pg_server_command() {
    local dir=$1 port=$2 listen=$3 bindir
    bindir=$(pg_bindir) || return 1
    printf '%s\n' "$bindir/postgres" -D "$dir/data" -p "$port" -k "$dir" -c "listen_addresses=$listen"
}

# pg_wait_ready HOST PORT PID SECONDS: until pg_isready says the server on HOST:PORT accepts
# connections, while PID lives.
pg_wait_ready() {
    local host=$1 port=$2 pid=$3 seconds=${4:-60} bindir deadline
    bindir=$(pg_bindir) || return 1
    deadline=$((SECONDS + seconds))
    until "$bindir/pg_isready" -q -h "$host" -p "$port" -U postgres -t 2; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# pg_ensure_database URL_OF_POSTGRES_DB NAME: creates database NAME unless it exists.
pg_ensure_database() {
    local url=$1 name=$2
    if [[ "$(psql -X -q -t -A -d "$url" -c "SELECT 1 FROM pg_database WHERE datname = '$name'" 2>/dev/null)" != 1 ]]; then
        psql -X -q -d "$url" -c "CREATE DATABASE \"$name\"" >/dev/null
    fi
}

# Whether the codeinterview binary's COMMAND (gateway, archiver) takes --postgres. The whole help
# read first (a `| grep -q` could stop reading early: SIGPIPE under pipefail); a build without
# the subcommand answers with the top-level help, which names no --postgres.
binary_knows_postgres() { local help; help=$("$BIN" "$1" --help 2>&1) || true; [[ $help == *--postgres* ]]; }

# URL with its password (if any) hidden, for what is printed.
pg_redact() { sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#' <<<"$1"; }
