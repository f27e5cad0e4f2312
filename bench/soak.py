"""A bounded soak: many threads doing mixed storage operations against a dev server for a while.

Usage (``make soak`` runs it with ``SOAK_ARGS``)::

    python bench/soak.py                       # 32 threads, 60 s, files of 4 KiB .. 4 MiB
    python bench/soak.py --threads 8 --seconds 10 --max-size 65536 --json soak.json

It starts its own dev server (temporary data directory), then each thread
saves, opens and reads, checks, sizes, lists, signs and deletes files under
names of its own, so it always knows what each name must hold. It prints the
operations done, errors by type, reads that returned wrong bytes, p50/p99
per operation, and the server's open descriptors and RSS before and after.
The exit status is 1 when any operation failed or returned wrong bytes.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bkstorages_contrib.testing import DevServer  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
#: Relative weights of the operations.
WEIGHTS = {"save": 25, "read": 25, "exists": 10, "size": 10, "listdir": 5, "url": 10, "delete": 15}
NAMES_PER_THREAD = 8


@dataclass
class Tally:
    """What the threads did: durations per operation, errors by type, wrong answers."""

    durations: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    wrong: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, op: str, seconds: float) -> None:
        with self.lock:
            self.durations[op].append(seconds)

    def failed(self, op: str, error: BaseException) -> None:
        key = f"{op}: {type(error).__name__}"
        with self.lock:
            self.errors[key] += 1
            self.error_samples.setdefault(key, str(error)[:200])

    def mismatch(self, op: str) -> None:
        with self.lock:
            self.wrong[op] += 1


def setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_TZ=True, INSTALLED_APPS=[], LOGGING_CONFIG=None)
        django.setup()


def server_usage(server: DevServer) -> dict[str, int]:
    import psutil

    assert server.process is not None
    process = psutil.Process(server.process.pid)
    return {"fds": process.num_fds(), "rss_kib": process.memory_info().rss // KIB}


class Worker:
    """One thread's loop over its own names; ``expected`` is what each name holds (sha256, size)."""

    def __init__(self, index: int, storage: Any, options: argparse.Namespace, tally: Tally) -> None:
        self.storage = storage
        self.options = options
        self.tally = tally
        self.random = random.Random(options.seed * 1000 + index)
        self.folder = f"soak/t{index:03d}"
        self.names = [f"{self.folder}/f{k}.bin" for k in range(NAMES_PER_THREAD)]
        self.expected: dict[str, tuple[str, int] | None] = dict.fromkeys(self.names)
        self.ops, self.weights = list(WEIGHTS), list(WEIGHTS.values())

    def draw_size(self) -> int:
        low, high = self.options.min_size, self.options.max_size
        return int(low * (high / low) ** self.random.random()) if high > low else low

    def run(self, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            op = self.random.choices(self.ops, self.weights)[0]
            name = self.random.choice(self.names)
            started = time.perf_counter()
            try:
                getattr(self, op)(name)
            except Exception as error:  # counted by type and reported
                self.tally.failed(op, error)
                self.expected[name] = self._unknown(name, op)
            else:
                self.tally.done(op, time.perf_counter() - started)

    def _unknown(self, name: str, op: str) -> tuple[str, int] | None:
        """After a failed save or delete, what the name holds is what the server says."""
        if op not in ("save", "delete"):
            return self.expected[name]
        try:
            with self.storage.open(name, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        except Exception:  # the next read decides
            return self.expected[name]
        return hashlib.sha256(data).hexdigest(), len(data)

    def save(self, name: str) -> None:
        from django.core.files.base import ContentFile

        data = self.random.randbytes(self.draw_size())
        saved = self.storage.save(name, ContentFile(data))
        if saved != name:
            self.tally.mismatch("save (name)")
        self.expected[name] = (hashlib.sha256(data).hexdigest(), len(data))

    def read(self, name: str) -> None:
        want = self.expected[name]
        try:
            with self.storage.open(name, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            if want is not None:
                self.tally.mismatch("read (missing)")
            return
        if want is None or (hashlib.sha256(data).hexdigest(), len(data)) != want:
            self.tally.mismatch("read (bytes)")

    def exists(self, name: str) -> None:
        if self.storage.exists(name) != (self.expected[name] is not None):
            self.tally.mismatch("exists")

    def size(self, name: str) -> None:
        want = self.expected[name]
        try:
            size = self.storage.size(name)
        except FileNotFoundError:
            if want is not None:
                self.tally.mismatch("size (missing)")
            return
        if want is None or size != want[1]:
            self.tally.mismatch("size")

    def listdir(self, name: str) -> None:
        _folders, files = self.storage.listdir(self.folder)
        present = {f"{self.folder}/{file}" for file in files}
        if present != {n for n, want in self.expected.items() if want is not None}:
            self.tally.mismatch("listdir")

    def url(self, name: str) -> None:
        if not self.storage.url(name):
            self.tally.mismatch("url")

    def delete(self, name: str) -> None:
        self.storage.delete(name)
        self.expected[name] = None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summary(tally: Tally, seconds: float, before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    operations = {
        op: {
            "count": len(values),
            "p50_ms": round(percentile(values, 0.5) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        }
        for op, values in sorted(tally.durations.items())
    }
    return {
        "seconds": round(seconds, 1),
        "operations": operations,
        "total_ops": sum(item["count"] for item in operations.values()),
        "errors": dict(tally.errors),
        "error_samples": tally.error_samples,
        "wrong": dict(tally.wrong),
        "server_before": before,
        "server_after": after,
    }


def run_facts(options: argparse.Namespace) -> dict[str, Any]:
    """What a reader of the figures needs besides them: when, on which code and machine, with which knobs."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(BENCH_DIR.parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit or "unknown",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        # Other work on the machine slows every figure; the 1-minute load average says how much there was.
        "load_average": round(os.getloadavg()[0], 1),
        "threads": options.threads,
        "min_size": options.min_size,
        "max_size": options.max_size,
    }


def print_summary(result: dict[str, Any], options: argparse.Namespace) -> None:
    print(f"soak: {options.threads} threads, {result['seconds']} s, files {options.min_size}..{options.max_size} bytes")
    print(f"operations done: {result['total_ops']}")
    print(f"{'operation':<10} {'count':>8} {'p50 ms':>9} {'p99 ms':>9}")
    for op, item in result["operations"].items():
        print(f"{op:<10} {item['count']:>8} {item['p50_ms']:>9} {item['p99_ms']:>9}")
    print(f"errors: {sum(result['errors'].values())}")
    for key, count in sorted(result["errors"].items()):
        print(f"  {key}: {count} (e.g. {result['error_samples'][key]})")
    print(f"wrong answers: {sum(result['wrong'].values())}")
    for key, count in sorted(result["wrong"].items()):
        print(f"  {key}: {count}")
    before, after = result["server_before"], result["server_after"]
    print(f"server descriptors: {before['fds']} -> {after['fds']}")
    print(f"server RSS: {before['rss_kib'] // 1024} MiB -> {after['rss_kib'] // 1024} MiB")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--min-size", type=int, default=4 * KIB)
    parser.add_argument("--max-size", type=int, default=4 * MIB)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    setup_django()
    from bkstorages.backends.bkrepo import BKRepoStorage

    tally = Tally()
    with DevServer() as server:
        storage = BKRepoStorage(
            endpoint_url=server.endpoint_url,
            username=server.username,
            password=server.password,
            project=server.project,
            bucket=server.private_bucket,
            file_overwrite=True,
        )
        storage.exists("warm-up")  # the session and the repository's publicity
        before = server_usage(server)
        workers = [Worker(index, storage, options, tally) for index in range(options.threads)]
        started = time.monotonic()
        stop_at = started + options.seconds
        threads = [threading.Thread(target=worker.run, args=(stop_at,)) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # let the server's handler threads finish
        after = server_usage(server)
    result = summary(tally, elapsed, before, after)
    result["run"] = run_facts(options)
    print_summary(result, options)
    if options.json is not None:
        options.json.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 1 if result["errors"] or result["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
