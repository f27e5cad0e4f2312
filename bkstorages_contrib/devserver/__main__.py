"""Run a local bk-repo dev server: ``python -m bkstorages_contrib.devserver``.

On start it creates the project, a public and a private generic repository
and the user if missing, prints the ``export BKREPO_...`` lines a shell or a
Django site needs, and serves until Ctrl-C or SIGTERM::

    eval "$(python -m bkstorages_contrib.devserver --print-env)"
    python -m bkstorages_contrib.devserver --port 0 --data /tmp/bkrepo
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from .app import DevServerApp, parse_zone
from .blocks import DEFAULT_EXPIRE_SECONDS as BLOCK_EXPIRE_SECONDS
from .origin import DEFAULT_EXPIRE_SECONDS, RedirectOrigin
from .store import Store

logger = logging.getLogger("bkstorages_contrib.devserver")

MISSING_SERVER = (
    "The dev server needs its HTTP server (cheroot), which comes with the 'devserver' extra:\n"
    "    pip install 'bkstorages[devserver]'"
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, in the order ``--help`` and the docs show it."""
    parser = argparse.ArgumentParser(
        prog="python -m bkstorages_contrib.devserver",
        description="A local bk-repo compatible server for developing and testing bkstorages sites.",
    )
    add_address_options(parser)
    add_account_options(parser)
    add_answer_options(parser)
    add_deployment_options(parser)
    add_state_options(parser)
    add_limit_options(parser)
    add_lifecycle_options(parser)
    return parser


def add_address_options(parser: argparse.ArgumentParser) -> None:
    """Where the server listens and keeps its data."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default 8765)")
    parser.add_argument("--data", default="./.bkrepo-data", help="data directory (default ./.bkrepo-data)")


def add_account_options(parser: argparse.ArgumentParser) -> None:
    """The project, repositories and accounts the server creates on start."""
    parser.add_argument("--project", default="bkstorages", help="project to create (default bkstorages)")
    parser.add_argument("--username", default="admin", help="user to create (default admin)")
    parser.add_argument("--password", default="blueking", help="that user's password (default blueking)")
    parser.add_argument("--public-bucket", default="public", help="public repository (default public)")
    parser.add_argument("--private-bucket", default="private", help="private repository (default private)")
    parser.add_argument(
        "--read-only-user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="an extra user who may read but not write (repeatable)",
    )
    parser.add_argument(
        "--platform-account",
        action="append",
        default=[],
        metavar="ACCESS_KEY:SECRET_KEY",
        help="accept 'Authorization: Platform' with these keys (repeatable)",
    )


def add_answer_options(parser: argparse.ArgumentParser) -> None:
    """How answers spell temporary URLs and dates."""
    parser.add_argument(
        "--generic-domain",
        default=None,
        help="host (with the /generic prefix) put in temporary URLs; default: the request's Host + /generic",
    )
    parser.add_argument(
        "--time-zone",
        default=None,
        help="zone the server renders dates in (default: this machine's), e.g. Asia/Shanghai or +0800",
    )


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """What one client may hold: threads, connections, timeouts and sizes."""
    limits = parser.add_argument_group("limits (what one client may hold)")
    limits.add_argument("--threads", type=int, default=16, help="requests served at once (default 16)")
    limits.add_argument(
        "--max-connections",
        type=int,
        default=256,
        help="connections waiting for a thread, and idle keep-alive ones, each (default 256); more get a 503",
    )
    limits.add_argument(
        "--idle-timeout", type=float, default=60.0, help="seconds a connection may stay silent (default 60)"
    )
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=30.0,
        help="seconds for a whole request head to arrive, however slowly it trickles in (default 30)",
    )
    limits.add_argument(
        "--min-upload-rate",
        type=int,
        default=1024,
        help="bytes/s a request body must average once --header-timeout has passed (default 1024)",
    )
    limits.add_argument(
        "--max-header-size",
        type=int,
        default=64 * 1024,
        help="bytes of request line and header fields; larger heads get a 431 (default 65536)",
    )


def add_lifecycle_options(parser: argparse.ArgumentParser) -> None:
    """Logging, when the server stops and what it removes then, and --print-env."""
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when standard input reaches end of file (a parent holding the pipe has gone)",
    )
    parser.add_argument(
        "--remove-on-exit", metavar="DIR", default=None, help="remove this directory when the server stops"
    )
    parser.add_argument("--print-env", action="store_true", help="print the export lines and exit")


def add_deployment_options(parser: argparse.ArgumentParser) -> None:
    """Redirect mode and the switches: what real deployments answer differently."""
    parser.add_argument(
        "--redirect",
        action="store_true",
        help="answer file downloads with 302 to a second loopback origin (signed, expiring URLs), "
        "like a bk-repo whose storage is COS with redirects on",
    )
    parser.add_argument("--redirect-port", type=int, default=0, help="port of that second origin (default: a free one)")
    parser.add_argument(
        "--redirect-base-url",
        default=None,
        metavar="URL",
        help="base URL put in redirect targets instead of the second origin's own (e.g. a proxy in front of it)",
    )
    parser.add_argument(
        "--redirect-expires",
        type=int,
        default=DEFAULT_EXPIRE_SECONDS,
        metavar="SECONDS",
        help=f"how long a redirect target stays valid (default {DEFAULT_EXPIRE_SECONDS})",
    )
    parser.add_argument(
        "--share-off",
        action="append",
        default=[],
        metavar="PROJECT",
        help="turn the project's share switch off: temporary URLs and tokens answer 251037 (repeatable)",
    )
    parser.add_argument(
        "--folder-listing-off",
        action="append",
        default=[],
        metavar="PROJECT/REPO",
        help="turn the repository's folder listing off: GET/HEAD on a folder answers 403/251202 (repeatable)",
    )


def positive_seconds(text: str) -> float:
    seconds = float(text)
    if not seconds > 0:
        raise ValueError(text)
    return seconds


def add_state_options(parser: argparse.ArgumentParser) -> None:
    """Options about how long the server keeps what clients leave behind."""
    parser.add_argument(
        "--block-upload-expiry",
        type=positive_seconds,
        default=BLOCK_EXPIRE_SECONDS,
        metavar="SECONDS",
        help="remove block uploads left unfinished this long, with their parts (default 43200, bk-repo's 12 hours)",
    )


def env_lines(endpoint_url: str, options: argparse.Namespace) -> list[str]:
    values = {
        "BKREPO_ENDPOINT_URL": endpoint_url,
        "BKREPO_USERNAME": options.username,
        "BKREPO_PASSWORD": options.password,
        "BKREPO_PROJECT": options.project,
        "BKREPO_BUCKET": options.private_bucket,
        "BKREPO_PUBLIC_BUCKET": options.public_bucket,
        "BKREPO_PRIVATE_BUCKET": options.private_bucket,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - only used to print a reachable URL
        return "127.0.0.1"
    if ":" in host:
        return f"[{host}]"
    return host


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.print_env:
        print("\n".join(env_lines(f"http://{url_host(options.host)}:{options.port}", options)))
        return 0
    zone = None
    if options.time_zone:
        zone = parse_zone(options.time_zone)
        if zone is None:
            parser.error(f"unknown time zone: {options.time_zone}")
    readers = pairs(parser, options.read_only_user, "--read-only-user takes NAME:PASSWORD")
    platform_accounts = dict(pairs(parser, options.platform_account, "--platform-account takes ACCESS_KEY:SECRET_KEY"))
    for name in ("threads", "max_connections", "idle_timeout", "header_timeout", "min_upload_rate", "max_header_size"):
        if getattr(options, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    try:
        from .server import Limits
    except ImportError as error:
        if not (error.name or "").startswith("cheroot"):
            raise
        print(MISSING_SERVER, file=sys.stderr)
        return 2
    limits = Limits(
        threads=options.threads,
        max_connections=options.max_connections,
        idle_timeout=options.idle_timeout,
        header_timeout=options.header_timeout,
        min_upload_rate=options.min_upload_rate,
        max_header_size=options.max_header_size,
    )
    try:
        return serve(parser, options, zone, readers, platform_accounts, limits)
    finally:
        if options.remove_on_exit:
            shutil.rmtree(options.remove_on_exit, ignore_errors=True)


def serve(
    parser: argparse.ArgumentParser,
    options: argparse.Namespace,
    zone: Any,
    readers: list[tuple[str, str]],
    platform_accounts: dict[str, str],
    limits: Any,
) -> int:
    logging.basicConfig(
        level=logging.WARNING if options.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    store = prepare_store(options, readers)
    if not apply_switches(store, options):
        return 2
    redirect = RedirectOrigin(store, expire_seconds=options.redirect_expires) if options.redirect else None
    app = DevServerApp(
        store,
        generic_domain=options.generic_domain,
        time_zone=zone,
        platform_accounts=platform_accounts,
        redirect=redirect,
    )
    server = listen(options.host, options.port, app, "--port", limits)
    if server is None:
        return 2
    origin = start_origin(options, redirect, limits) if redirect else None
    if redirect is not None and origin is None:
        server.stop()
        return 2
    endpoint = f"http://{url_host(options.host)}:{server.port}"
    print("\n".join(env_lines(endpoint, options)), flush=True)
    print(f"# bk-repo dev server on {endpoint} (data in {store.root}); Ctrl-C to stop", file=sys.stderr, flush=True)

    run_until_stopped(server, origin, exit_with_stdin=options.exit_with_stdin)
    return 0


def run_until_stopped(server: Any, origin: Any, *, exit_with_stdin: bool) -> None:
    """Serve until Ctrl-C, SIGTERM or (with ``--exit-with-stdin``) end of standard input; then stop both servers."""

    def stop(signum: int | None = None, frame: FrameType | None = None) -> None:
        # stop() waits for the worker threads, so call it from another thread.
        threading.Thread(target=server.stop, daemon=True).start()

    def watch_stdin() -> None:
        # Returns at end of file: the parent closed the pipe, or died (even by SIGKILL).
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(65536):
                pass
        logger.info("Standard input closed: stopping")
        stop()

    signal.signal(signal.SIGTERM, stop)
    if exit_with_stdin:
        threading.Thread(target=watch_stdin, name="bkrepo-devserver-stdin", daemon=True).start()
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if origin is not None:
            origin.stop()


def pairs(parser: argparse.ArgumentParser, items: list[str], usage: str) -> list[tuple[str, str]]:
    """``FIRST:SECOND`` option values split in two; a parser error for one without a colon or a first part."""
    found = []
    for item in items:
        first, colon, second = item.partition(":")
        if not colon or not first:
            parser.error(usage)
        found.append((first, second))
    return found


def prepare_store(options: argparse.Namespace, readers: list[tuple[str, str]]) -> Store:
    """The data directory with the CLI's users, project and two repositories."""
    store = Store(options.data, block_upload_expiry=options.block_upload_expiry)
    store.ensure_user(options.username, options.password, can_write=True)
    for name, password in readers:
        store.ensure_user(name, password, can_write=False)
    store.ensure_project(options.project, options.username)
    store.create_repo(options.project, options.public_bucket, public=True, created_by=options.username, exist_ok=True)
    store.create_repo(options.project, options.private_bucket, public=False, created_by=options.username, exist_ok=True)
    return store


def start_origin(options: argparse.Namespace, redirect: RedirectOrigin, limits: Any) -> Any:
    """Redirect mode's second origin, on the same kind of server, served in a thread; None if it cannot listen."""
    from .server import serve_in_thread

    origin = listen(options.host, options.redirect_port, redirect, "--redirect-port", limits)
    if origin is None:
        return None
    redirect.base_url = (options.redirect_base_url or f"http://{url_host(options.host)}:{origin.port}").rstrip("/")
    serve_in_thread(origin)
    print(f"# redirect targets on {redirect.base_url}", file=sys.stderr, flush=True)
    return origin


def listen(host: str, port: int, app: Any, option: str, limits: Any) -> Any:
    """A server bound to ``host:port``; None (after a plain message) when it cannot listen."""
    from .server import make_server

    try:
        return make_server(host, port, app, limits)
    except OSError as error:
        print(f"Cannot listen on {host}:{port}: {error.strerror or error}", file=sys.stderr)
        print(f"Pick another {option}, or {option} 0 for a free one.", file=sys.stderr)
        return None


def apply_switches(store: Store, options: argparse.Namespace) -> bool:
    """``--share-off`` and ``--folder-listing-off``; False (after a message) for a missing target."""
    for project in options.share_off:
        if not store.set_share(project, False):
            print(f"--share-off: no project {project!r}", file=sys.stderr)
            return False
    for item in options.folder_listing_off:
        project, slash, repo = item.partition("/")
        if not slash or not store.set_list_folders(project, repo, False):
            print(f"--folder-listing-off: no repository {item!r} (PROJECT/REPO)", file=sys.stderr)
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
