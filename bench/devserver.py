"""Throughput and memory of the bk-repo dev server, measured with curl.

Downloads are compared with ``python -m http.server`` serving the same file,
uploads with two plain sink servers written with ``http.server``: one that
drops the body and one that writes it to a file (what any server that
keeps an upload must at least do). The dev server does more per upload:
sha256 and md5, fsync, and a metadata commit. Every figure is the median of
``--runs`` transfers; the dev server's peak RSS is sampled with psutil during
the transfers, and a separate 1 GiB upload and download measure its RSS
growth.

    python bench/devserver.py            # 256 MiB, 3 runs, plus the 1 GiB memory check
    python bench/devserver.py --smoke    # tiny sizes, one run: checks that the bench works

Prints a markdown table; ``--json FILE`` also writes the figures as JSON.
Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bkstorages_contrib.testing import DevServer  # noqa: E402

MIB = 1024 * 1024


# -- the sink servers (run as a subprocess of this script) -----------------------------


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    target: Path | None = None

    def do_PUT(self) -> None:
        remaining = int(self.headers.get("Content-Length") or 0)
        out = open(self.target, "wb") if self.target else None  # noqa: SIM115
        try:
            while remaining > 0:
                data = self.rfile.read(min(remaining, MIB))
                if not data:
                    break
                if out is not None:
                    out.write(data)
                remaining -= len(data)
        finally:
            if out is not None:
                out.close()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_sink(target: str | None) -> None:
    SinkHandler.target = Path(target) if target else None
    server = ThreadingHTTPServer(("127.0.0.1", 0), SinkHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextlib.contextmanager
def background(command: list[str], cwd: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- measuring ---------------------------------------------------------------------------


def curl(args: list[str], what: str) -> float:
    """Run curl; returns the speed it reports in MiB/s."""
    variable = "speed_download" if what == "download" else "speed_upload"
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", f"%{{http_code}} %{{{variable}}}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    status, speed = result.stdout.split()
    if not status.startswith("2"):
        raise RuntimeError(f"curl got HTTP {status} for {args[-1]}")
    return float(speed) / MIB


class RssSampler:
    """Samples a process's RSS in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        block = os.urandom(min(size, 16 * MIB)) if size else b""
        while left > 0:
            out.write(block[:left])
            left -= len(block[:left])


def run(size: int, runs: int, rss_size: int) -> dict[str, Any]:
    """All servers run side by side and the transfers take turns, so that load
    from elsewhere on the machine hits the dev server and its baselines alike."""
    if shutil.which("curl") is None:
        raise SystemExit("curl is missing: apt-get install -y curl")
    work = Path(tempfile.mkdtemp(prefix="bench-devserver-"))
    try:
        serve_dir = work / "serve"
        serve_dir.mkdir()
        payload = serve_dir / "payload.bin"
        make_file(payload, size)
        results: dict[str, Any] = {"size_mib": size / MIB, "runs": runs}
        port = free_port()
        http_server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        discard_sink = [sys.executable, __file__, "--serve-sink"]
        file_sink = [*discard_sink, "--sink-file", str(work / "sink.bin")]
        with (
            DevServer(data_dir=work / "data") as server,
            background(http_server, cwd=serve_dir),
            background(discard_sink) as discard,
            background(file_sink) as keep,
        ):
            wait_for_port(port)
            assert discard.stdout is not None
            assert keep.stdout is not None
            discard_url = f"http://127.0.0.1:{int(discard.stdout.readline())}/payload.bin"
            keep_url = f"http://127.0.0.1:{int(keep.stdout.readline())}/payload.bin"
            auth = f"{server.username}:{server.password}"
            url = f"{server.endpoint_url}/generic/{server.project}/{server.private_bucket}/bench/payload.bin"
            transfers = {
                "devserver_upload": (["-u", auth, "-H", "X-BKREPO-OVERWRITE: true", "-T", str(payload), url], "upload"),
                "sink_file_upload": (["-T", str(payload), keep_url], "upload"),
                "sink_discard_upload": (["-T", str(payload), discard_url], "upload"),
                "devserver_download": (["-u", auth, url], "download"),
                "http_server_download": ([f"http://127.0.0.1:{port}/payload.bin"], "download"),
            }
            speeds: dict[str, list[float]] = {name: [] for name in transfers}
            assert server.process is not None
            sampler = RssSampler(server.process.pid)
            base_rss = sampler.peak
            with sampler:
                for _ in range(runs):
                    for name, (args, what) in transfers.items():
                        speeds[name].append(curl(args, what))
            for name, values in speeds.items():
                results[name] = statistics.median(values)
            results["devserver_rss_start_mib"] = base_rss / MIB
            results["devserver_rss_peak_mib"] = sampler.peak / MIB
            if rss_size:
                payload.unlink()
                big = work / "big.bin"
                make_file(big, rss_size)
                big_url = url.replace("payload.bin", "big.bin")
                rss_sampler = RssSampler(server.process.pid)
                rss_base = rss_sampler.peak
                with rss_sampler:
                    curl(["-u", auth, "-H", "X-BKREPO-OVERWRITE: true", "-T", str(big), big_url], "upload")
                    curl(["-u", auth, big_url], "download")
                results["rss_transfer_mib"] = rss_size / MIB
                results["rss_growth_mib"] = (rss_sampler.peak - rss_base) / MIB
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(results: dict[str, Any]) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "n/a"

    size = results["size_mib"]
    lines = [
        f"Dev server vs plain servers, {size:g} MiB over loopback with curl, median of {results['runs']}:",
        "",
        "| Transfer | Dev server | Baseline | Baseline MiB/s | Ratio | Target |",
        "|---|---:|---|---:|---:|---:|",
        f"| download | {results['devserver_download']:.0f} MiB/s | python -m http.server | "
        f"{results['http_server_download']:.0f} | "
        f"{ratio(results['devserver_download'], results['http_server_download'])} | >= 0.8x |",
        f"| upload | {results['devserver_upload']:.0f} MiB/s | sink writing a file | "
        f"{results['sink_file_upload']:.0f} | {ratio(results['devserver_upload'], results['sink_file_upload'])} "
        "| >= 0.5x |",
        f"| upload | {results['devserver_upload']:.0f} MiB/s | sink dropping the body | "
        f"{results['sink_discard_upload']:.0f} | "
        f"{ratio(results['devserver_upload'], results['sink_discard_upload'])} | (info) |",
        "",
        f"Dev server RSS: {results['devserver_rss_start_mib']:.1f} MiB at start, "
        f"{results['devserver_rss_peak_mib']:.1f} MiB peak during the transfers.",
    ]
    if "rss_growth_mib" in results:
        lines.append(
            f"RSS growth over a {results['rss_transfer_mib']:g} MiB upload + download: "
            f"{results['rss_growth_mib']:.1f} MiB (target <= 32 MiB)."
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="MiB per transfer (default 256)")
    parser.add_argument("--runs", type=int, default=3, help="transfers per figure; the median is reported")
    parser.add_argument("--rss-size", type=int, default=1024, help="MiB for the memory check; 0 skips it")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one run")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--serve-sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sink-file", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_sink:
        serve_sink(options.sink_file)
        return 0
    if options.smoke:
        options.size, options.runs, options.rss_size = 2, 1, 4
    results = run(options.size * MIB, options.runs, options.rss_size * MIB)
    print(table(results))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
