#!/usr/bin/env bash
# Run the sandbox site (what `make sandbox` does).
#
# Without BKREPO_ENDPOINT_URL in the environment, this starts the bk-repo dev
# server in the background (data in .sandbox/bkrepo) and points the site at it.
# With BKREPO_ENDPOINT_URL, BKREPO_USERNAME, BKREPO_PASSWORD, BKREPO_PROJECT,
# BKREPO_BUCKET, BKREPO_PUBLIC_BUCKET and BKREPO_PRIVATE_BUCKET already set, it
# uses that bk-repo instead. Then it migrates, uploads the static files to the
# public bucket (collectstatic), creates the demo admin user and serves the
# site until Ctrl-C, which stops both processes.
#
# Knobs (environment): SANDBOX_HOST (127.0.0.1), SANDBOX_PORT (8000),
# SANDBOX_DATA_DIR (.sandbox), SANDBOX_BKREPO_PORT (0 = any free port),
# SANDBOX_ADMIN_USER (admin), SANDBOX_ADMIN_PASSWORD (generated once),
# SANDBOX_REDIRECT (1: the dev server answers downloads with redirects to a
# second origin, like a bk-repo on COS storage).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
HOST=${SANDBOX_HOST:-127.0.0.1}
PORT=${SANDBOX_PORT:-8000}
DATA_DIR=${SANDBOX_DATA_DIR:-.sandbox}
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
export SANDBOX_DATA_DIR="$DATA_DIR"
export DJANGO_SETTINGS_MODULE=sandbox_project.settings

if [[ -t 1 ]]; then
    say() { printf '\033[1m[sandbox]\033[0m %s\n' "$*"; }
else
    say() { printf '[sandbox] %s\n' "$*"; }
fi

# The site's port must be free before anything starts: otherwise the dev
# server would start, then runserver would stop with "That port is already in
# use" after the script announced the site. SO_REUSEADDR as runserver uses it,
# so a port left in TIME_WAIT by the last run counts as free.
if [[ ! "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    say "SANDBOX_PORT must be a port number (1-65535), not '$PORT'."
    exit 2
fi
if ! "$PY" - "$HOST" "$PORT" <<'PY'; then
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
try:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
except OSError as exc:
    print(f"[sandbox] Cannot use {host}:{port} for the site: {exc.strerror or exc}.", file=sys.stderr)
    sys.exit(1)
PY
    next_port=$((PORT < 65535 ? PORT + 1 : 8001))
    say "Port $PORT is already in use (another sandbox or web server?). Stop it, or pick another port:"
    say "    SANDBOX_PORT=$next_port make sandbox"
    exit 1
fi

devserver_pid=""
site_pid=""

stop() {
    trap - EXIT INT TERM
    local pid
    for pid in $site_pid $devserver_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in $site_pid $devserver_pid; do
        # Give each process five seconds to finish, then insist.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$devserver_pid" ]]; then
        say "Stopped the site and the bk-repo dev server."
    else
        say "Stopped the site."
    fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${BKREPO_ENDPOINT_URL:-}" ]]; then
    log="$DATA_DIR/devserver.log"
    say "Starting the bk-repo dev server (data in $DATA_DIR/bkrepo, log in $log)."
    redirect=()
    if [[ "${SANDBOX_REDIRECT:-0}" == 1 ]]; then
        redirect=(--redirect)
        say "Redirect mode: downloads answer 302 to a second origin of the dev server."
    fi
    PYTHONUNBUFFERED=1 "$PY" -m bkstorages_contrib.devserver "${redirect[@]}" \
        --host 127.0.0.1 --port "${SANDBOX_BKREPO_PORT:-0}" --data "$DATA_DIR/bkrepo" >"$log" 2>&1 &
    devserver_pid=$!
    # The dev server prints `export BKREPO_...=...` lines once it listens.
    for _ in $(seq 200); do
        grep -q '^export BKREPO_ENDPOINT_URL=' "$log" && break
        if ! kill -0 "$devserver_pid" 2>/dev/null; then
            say "The dev server did not start:"
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if ! grep -q '^export BKREPO_ENDPOINT_URL=' "$log"; then
        say "The dev server printed no settings within 20 seconds; see $log."
        exit 1
    fi
    # Only the export lines, which the dev server writes shell-quoted.
    eval "$(grep -E '^export BKREPO_[A-Z_]+=' "$log")"
    say "bk-repo dev server at $BKREPO_ENDPOINT_URL (project $BKREPO_PROJECT)."
else
    missing=()
    for name in BKREPO_USERNAME BKREPO_PASSWORD BKREPO_PROJECT BKREPO_BUCKET BKREPO_PUBLIC_BUCKET BKREPO_PRIVATE_BUCKET; do
        [[ -n "${!name:-}" ]] || missing+=("$name")
    done
    if ((${#missing[@]})); then
        say "BKREPO_ENDPOINT_URL is set, so the sandbox uses that bk-repo, but these are missing: ${missing[*]}"
        exit 1
    fi
    say "Using the bk-repo at $BKREPO_ENDPOINT_URL (project $BKREPO_PROJECT) from your environment."
fi

manage() { "$PY" sandbox_project/manage.py "$@"; }

manage migrate --noinput -v 0
say "Uploading the static files to bk-repo (collectstatic)."
manage collectstatic --noinput -v 0
manage sandbox_admin --url "http://$HOST:$PORT/admin/" | while IFS= read -r line; do say "$line"; done

if [[ -f docs/_build/html/index.html ]]; then
    say "The documentation is at http://$HOST:$PORT/docs/ (make docs rebuilds it)."
else
    say "Run 'make docs' in another terminal to read the documentation at http://$HOST:$PORT/docs/."
fi
say "The site runs at http://$HOST:$PORT/ — press Ctrl-C to stop it and the dev server."
# Started directly (not through `manage`, a function) so that $! is the server itself.
"$PY" sandbox_project/manage.py runserver "$HOST:$PORT" --noreload &
site_pid=$!
# `wait` returns when the site exits or a signal arrives; the traps then clean up.
wait "$site_pid"
