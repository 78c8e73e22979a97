# bench/common.sh — what a benchmark script needs besides its own steps: messages, option
# checks, building the tools, the private PostgreSQL cluster, touchlined on free ports, and
# stopping all of it on exit. Sourced (not run) by bench/soak after it set NAME (its name in
# messages), ROOT and CALLER_DIR; the script sets BUILD_DIR, PGDIR, KEEP and DAEMON/BINDIR
# from its options before calling build_tools.

say() { echo "$NAME: $*" >&2; }
die() {
    echo "$NAME: error: $*" >&2
    exit 1
}
usage_error() {
    echo "$NAME: $*" >&2
    echo "Try: bench/$NAME --help" >&2
    exit 2
}
need_arg() { (($# >= 2)) || usage_error "$1 needs a value"; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
absolute() { [[ "$1" == /* ]] && echo "$1" || echo "$CALLER_DIR/$1"; }
# key=value from a result line.
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# build_tools TOOL...: sets DAEMON, LOADGEN, QDRIVE, BASELINE, QLOAD and PSQL, building in
# BUILD_DIR (Release) what --bindir/--daemon did not provide.
build_tools() {
    local targets=() t
    if [[ -n "${BINDIR:-}" ]]; then
        BINDIR="$(cd -- "$(absolute "$BINDIR")" && pwd -P)" || usage_error "--bindir: no such directory"
    fi
    [[ -z "${DAEMON:-}" ]] || DAEMON="$(absolute "$DAEMON")"
    for t in "$@"; do
        if [[ "$t" == touchlined ]]; then
            if [[ -z "${DAEMON:-}" ]]; then
                DAEMON="${BINDIR:-$BUILD_DIR}/touchlined"
                [[ -n "${BINDIR:-}" ]] || targets+=(touchlined)
            fi
            continue
        fi
        local path="${BINDIR:-$BUILD_DIR/bench}/$t"
        case "$t" in
        loadgen) LOADGEN="$path" ;;
        qdrive) QDRIVE="$path" ;;
        baseline) BASELINE="$path" ;;
        qload) QLOAD="$path" ;;
        *) die "build_tools: unknown tool $t" ;;
        esac
        [[ -n "${BINDIR:-}" ]] || targets+=("$t")
    done
    if ((${#targets[@]} > 0)); then
        say "building ${targets[*]} (Release) in $(basename "$BUILD_DIR")/"
        cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null ||
            die "cmake configure failed (to use hand-built binaries: --daemon PATH --bindir DIR)"
        cmake --build "$BUILD_DIR" -j2 --target "${targets[@]}" >&2 || die "build failed"
    fi
    for t in "$@"; do
        case "$t" in
        touchlined) t="$DAEMON" ;;
        *) t="${BINDIR:-$BUILD_DIR/bench}/$t" ;;
        esac
        [[ -x "$t" ]] || die "$t is missing or not executable"
    done
    PSQL="$(command -v psql || true)"
    if [[ -z "$PSQL" ]]; then
        for t in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
            [[ -x "$t/psql" ]] && PSQL="$t/psql" && break
        done
    fi
    [[ -n "$PSQL" ]] || die "psql not found (run ./scripts/deps)"
}

DAEMON_PID=""
PG_STARTED=0
PG_PORT=""
DROP_DBS=()

stop_pid() { # pid, signal, seconds to wait
    local pid="$1" sig="$2" t="$3" i
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop after SIG$sig; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

psql_db() { # database, SQL
    PGCONNECT_TIMEOUT=10 "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
        -U touchline -d "$1" -c "$2"
}

# The EXIT trap: the daemon, then the databases (unless --keep), then the cluster if this
# script started it.
cleanup() {
    local rc=$? db
    trap - EXIT INT TERM
    stop_pid "$DAEMON_PID" TERM 35
    if ((KEEP)); then
        [[ -z "$PG_PORT" ]] || say "kept: databases ${DROP_DBS[*]} on the cluster in $PGDIR" \
            "(port $PG_PORT); stop it with: scripts/pg stop $PGDIR"
    else
        if [[ -n "$PG_PORT" ]]; then
            for db in "${DROP_DBS[@]}"; do
                psql_db postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
            done
        fi
        if ((PG_STARTED)); then
            scripts/pg stop "$PGDIR" >/dev/null 2>&1 || say "could not stop PostgreSQL in $PGDIR"
        fi
    fi
    exit "$rc"
}

# Starts the private cluster in PGDIR (1 GB shared_buffers unless the environment says
# otherwise) and sets PG_PORT.
start_pg() {
    scripts/pg status "$PGDIR" >/dev/null 2>&1 || PG_STARTED=1
    TOUCHLINE_PG_SHARED_BUFFERS="${TOUCHLINE_PG_SHARED_BUFFERS:-1GB}" \
        scripts/pg start "$PGDIR" >"$RUN_DIR/pg.out" 2>"$RUN_DIR/pg.err" ||
        { cat -- "$RUN_DIR/pg.err" >&2; die "PostgreSQL did not start"; }
    PG_PORT="$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$RUN_DIR/pg.out" | tail -n 1)"
    [[ -n "$PG_PORT" ]] || die "no DSN from scripts/pg start"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((15000 + RANDOM % 15000))
        if [[ "$p" != "$PG_PORT" && "$p" != "${1:-}" ]] && ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free TCP port found"
}

# Starts touchlined on database DSN and free ports with its log in $1; sets DAEMON_PID,
# TCP_PORT and HTTP_PORT. TOUCHLINE_* variables of the caller's environment apply, and the
# configuration file DAEMON_CONFIG when set (no file otherwise).
start_daemon() {
    local log="$1" i
    TCP_PORT="$(free_port)" || exit 1
    HTTP_PORT="$(free_port "$TCP_PORT")" || exit 1
    say "starting $DAEMON on 127.0.0.1:$TCP_PORT (http $HTTP_PORT)"
    env -u TOUCHLINE_CONFIG ${DAEMON_CONFIG:+TOUCHLINE_CONFIG="$DAEMON_CONFIG"} \
        TOUCHLINE_DATABASE_DSN="$DSN" \
        TOUCHLINE_LISTEN_TCP="127.0.0.1:$TCP_PORT" TOUCHLINE_LISTEN_HTTP="127.0.0.1:$HTTP_PORT" \
        "$DAEMON" >"$log" 2>&1 &
    DAEMON_PID=$!
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
            tail -n 20 -- "$log" >&2
            DAEMON_PID=""
            die "touchlined exited at start (log: $log)"
        fi
        port_in_use "$TCP_PORT" && return 0
        sleep 0.1
    done
    die "touchlined does not listen on $TCP_PORT after 60 s (log: $log)"
}
