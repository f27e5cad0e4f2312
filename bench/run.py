"""Benchmarks, side by side: bkstorages (this checkout), bkstorages 3.1.0, curl and raw requests.

Usage (``make bench`` runs the first form)::

    python bench/run.py                 # full run, writes bench/results.md and bench/results.png
    python bench/run.py --smoke         # tiny sizes, seconds; what the test suite runs
                                        # (writes to $TMPDIR/bkstorages-bench-smoke/)

One dev server, one temporary directory for its data and the source files
(removed at the end). Every client runs in its own process
(``bench/worker.py``); curl runs as itself. Each figure is the median of the
repeats, and the ratios compare figures of the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))

from bench import anchor, report  # noqa: E402
from bench.delayproxy import DelayProxy  # noqa: E402
from bkstorages_contrib.testing import DevServer  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
CLIENTS = ("ours", "anchor", "curl", "requests", "local")


@dataclasses.dataclass(frozen=True)
class Profile:
    """How big and how many: the full run and the smoke run differ only here."""

    name: str
    repeats: int
    small_size: int
    small_count: int
    medium_size: int
    large_size: int
    random_reads: int
    read_size: int
    url_cold: int
    url_warm: int
    url_public: int
    exists: int
    size: int
    listdir_files: int
    saves: int
    save_size: int
    save_threads: int
    # 3.1.0 downloads the whole object for every open(), and signs every url()
    # with a request: it gets a time budget there (at least one call is made).
    anchor_read_budget: float | None
    anchor_url_budget: float | None
    worker_timeout: float
    #: Pages of private url(name, expire) calls, and names per page.
    url_pages: int = 5
    url_page_names: int = 50
    #: Django admin's static files, or only its css/ folder for a smoke run.
    static_subfolder: str = ""
    #: The WAN pass: calls per operation, and the delay each way.
    wan_ops: int = 50
    wan_delay: float = 0.005


FULL = Profile(
    name="full",
    repeats=3,
    small_size=MIB,
    small_count=200,
    medium_size=64 * MIB,
    large_size=GIB,
    random_reads=200,
    read_size=4096,
    url_cold=1000,
    url_warm=10_000,
    url_public=100_000,
    exists=1000,
    size=1000,
    listdir_files=10_000,
    saves=1000,
    save_size=4 * KIB,
    save_threads=16,
    anchor_read_budget=10.0,
    anchor_url_budget=5.0,
    worker_timeout=900.0,
)

SMOKE = Profile(
    name="smoke",
    repeats=1,
    small_size=64 * KIB,
    small_count=5,
    medium_size=MIB,
    large_size=4 * MIB,
    random_reads=5,
    read_size=4096,
    url_cold=20,
    url_warm=50,
    url_public=200,
    exists=20,
    size=20,
    listdir_files=30,
    saves=20,
    save_size=4 * KIB,
    save_threads=4,
    anchor_read_budget=None,
    anchor_url_budget=None,
    worker_timeout=120.0,
    url_pages=2,
    url_page_names=10,
    static_subfolder="admin/css/vendor",
    wan_ops=5,
)


def human_size(size: int) -> str:
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    title: str
    kind: str
    measure: str  # "MB/s", "ops/s", "ms", "s"
    clients: tuple[str, ...]


def workloads(profile: Profile) -> list[Workload]:
    p = profile
    transfer = ("curl", "requests", "ours", "anchor")
    small = f"{human_size(p.small_size)} x{p.small_count}"
    return [
        Workload("download_small", f"download {small}", "download", "MB/s", transfer),
        Workload("download_medium", f"download {human_size(p.medium_size)}", "download", "MB/s", transfer),
        Workload("download_large", f"download {human_size(p.large_size)}", "download", "MB/s", transfer),
        Workload("upload_small", f"upload {small}", "upload", "MB/s", transfer),
        Workload("upload_medium", f"upload {human_size(p.medium_size)}", "upload", "MB/s", transfer),
        Workload("upload_large", f"upload {human_size(p.large_size)}", "upload", "MB/s", transfer),
        Workload(
            "random_read",
            f"open().read({p.read_size}) at random offsets of {human_size(p.large_size)} x{p.random_reads}",
            "random_read",
            "ms",
            ("requests", "ours", "anchor"),
        ),
        Workload("url_cold", f"url() private, {p.url_cold} names, cold", "url", "ops/s", ("ours", "anchor")),
        Workload("url_warm", f"url() private, x{p.url_warm} warm", "url", "ops/s", ("ours", "anchor")),
        Workload("url_public", f"url() public x{p.url_public}", "url", "ops/s", ("ours", "anchor")),
        Workload("exists", f"exists() x{p.exists}", "exists", "ops/s", ("requests", "ours", "anchor")),
        Workload("size", f"size() x{p.size}", "size", "ops/s", ("requests", "ours", "anchor")),
        Workload("listdir", f"listdir() of {p.listdir_files} files", "listdir", "s", ("ours", "anchor")),
        Workload(
            "saves_sequential",
            f"{p.saves} saves of {human_size(p.save_size)}, sequential",
            "saves",
            "ops/s",
            ("requests", "ours", "anchor"),
        ),
        Workload(
            "saves_threads",
            f"{p.saves} saves of {human_size(p.save_size)}, {p.save_threads} threads",
            "saves",
            "ops/s",
            ("requests", "ours", "anchor"),
        ),
        Workload(
            "url_page",
            f"a page of {p.url_page_names} private url(name, expire), cold",
            "url_page",
            "ms",
            ("ours", "anchor"),
        ),
        Workload("copy_server", f"copy {human_size(p.large_size)}: copy(), server-side", "copy", "s", ("ours",)),
        Workload(
            "copy_client", f"copy {human_size(p.large_size)}: save(open()) through the client", "copy", "s", ("ours",)
        ),
        Workload("collectstatic_first", "collectstatic, first run", "collectstatic", "s", ("ours", "local")),
        Workload("collectstatic_again", "collectstatic, nothing changed", "collectstatic", "s", ("ours", "local")),
    ]


def wan_workloads(profile: Profile) -> list[Workload]:
    """The operations again through the delay proxy: where round trips decide."""
    n, both = profile.wan_ops, ("ours", "anchor")
    return [
        Workload("wan_saves_overwrite", f"save() 4 KiB, overwrite on x{n}", "saves", "ms/op", both),
        Workload("wan_saves_keep", f"save() 4 KiB, overwrite off, free names x{n}", "saves", "ms/op", both),
        Workload("wan_exists", f"exists() x{n}", "exists", "ms/op", both),
        Workload("wan_size", f"size() x{n}", "size", "ms/op", both),
        Workload("wan_listdir", f"listdir() of {profile.listdir_files} files", "listdir", "ms/op", both),
        Workload("wan_read_small", f"open().read() of 1000 bytes x{n}", "read_small", "ms/op", both),
        Workload("wan_url_cold", f"url() private, {n} names, cold", "url", "ms/op", both),
        Workload("wan_url_warm", f"url() private, x{10 * n} warm", "url", "ms/op", both),
        Workload(
            "wan_collectstatic",
            "collectstatic, nothing changed (3.1.0: no manifest, USE_TZ off)",
            "collectstatic",
            "ms/op",
            both,
        ),
    ]


# -- setting up the data ----------------------------------------------------------------


class Bench:
    def __init__(
        self,
        profile: Profile,
        work_dir: Path,
        server: DevServer,
        with_anchor: bool,
        only: set[str] | None = None,
        clients: set[str] | None = None,
        profile_to: Path | None = None,
        ours_env: dict[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.ours_env = ours_env or {}
        self.only = only
        self.clients = clients
        self.profile_to = profile_to
        self.work_dir = work_dir
        self.server = server
        self.env = server.env()
        self.with_anchor = with_anchor
        self.sources: dict[str, Path] = {}
        self.sha256: dict[str, str] = {}
        self.listdir_names: list[str] = []
        self.static_source = work_dir / "static-source"
        self.static_files = 0
        self.results: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.checks: dict[str, dict[str, str]] = {}
        self.notes: list[str] = []
        self.rng = random.Random(20260801)

    def say(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def make_source(self, label: str, size: int) -> None:
        path = self.work_dir / f"source-{label}.bin"
        digest = hashlib.sha256()
        block = os.urandom(min(size, 8 * MIB)) if size else b""
        with open(path, "wb") as out:
            left = size
            while left:
                piece = block[: min(left, len(block))]
                out.write(piece)
                digest.update(piece)
                left -= len(piece)
        self.sources[label] = path
        self.sha256[label] = digest.hexdigest()

    def seed(self) -> None:
        """Upload what the read-side workloads need, with raw requests (not timed)."""
        import requests

        p = self.profile
        self.make_source("small", p.small_size)
        self.make_source("medium", p.medium_size)
        self.make_source("large", p.large_size)
        self.make_source("tiny", 1000)
        endpoint, project = self.env["BKREPO_ENDPOINT_URL"], self.env["BKREPO_PROJECT"]
        auth = (self.server.username, self.server.password)
        sessions: dict[int, requests.Session] = {}

        def put(bucket: str, name: str, label: str) -> None:
            import threading

            session = sessions.setdefault(threading.get_ident(), requests.Session())
            with open(self.sources[label], "rb") as body:
                response = session.put(
                    f"{endpoint}/generic/{project}/{bucket}/{name}",
                    data=body,
                    auth=auth,
                    headers={"X-BKREPO-OVERWRITE": "true"},
                )
            response.raise_for_status()

        private, public = self.server.private_bucket, self.server.public_bucket
        self.listdir_names = [f"ls/file-{i:05d}.txt" for i in range(p.listdir_files)]
        jobs = [(private, f"dl/small-{i:03d}.bin", "small") for i in range(p.small_count)]
        jobs += [(private, "dl/medium.bin", "medium"), (private, "dl/large.bin", "large")]
        if any(w.kind in ("url", "url_page", "exists", "size", "listdir", "read_small") for w in self.workloads()):
            jobs += [(private, name, "tiny") for name in self.listdir_names]
        self.copy_static_source()
        jobs += [(public, "pub/check.bin", "tiny")]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda job: put(*job), jobs))
        self.say(f"seeded {len(jobs)} objects in {time.monotonic() - started:.1f}s")

    def copy_static_source(self) -> None:
        """Django admin's static files (or a part of them) in a folder of their own."""
        import django

        admin_static = Path(django.__file__).parent / "contrib" / "admin" / "static"
        part = admin_static / self.profile.static_subfolder
        shutil.copytree(part, self.static_source / self.profile.static_subfolder)
        self.static_files = sum(1 for path in self.static_source.rglob("*") if path.is_file())

    # -- tasks -------------------------------------------------------------------------

    def task(self, workload: Workload, client: str, repeat: int) -> dict[str, Any]:
        """The worker's task for one workload, client and repeat."""
        p = self.profile
        prefix = f"run/{client}/{workload.key}/r{repeat}"
        params: dict[str, Any]
        if workload.kind == "download":
            label = workload.key.split("_")[1]
            names = [f"dl/small-{i:03d}.bin" for i in range(p.small_count)] if label == "small" else [f"dl/{label}.bin"]
            params = {"names": names, "size": os.path.getsize(self.sources[label])}
        elif workload.kind == "upload":
            label = workload.key.split("_")[1]
            count = p.small_count if label == "small" else 1
            params = {
                "names": [f"{prefix}/obj-{i:03d}.bin" for i in range(count)],
                "source": str(self.sources[label]),
                "sha256": self.sha256[label],
            }
        elif workload.kind == "random_read":
            last = p.large_size - p.read_size
            params = {
                "name": "dl/large.bin",
                "offsets": [self.rng.randrange(0, last + 1) for _ in range(p.random_reads)],
                "length": p.read_size,
                "source": str(self.sources["large"]),
                "budget_seconds": p.anchor_read_budget if client == "anchor" else None,
            }
        elif workload.kind == "url" and workload.key.startswith("wan_"):
            cold_names = self.listdir_names[: p.wan_ops]
            check = {"check_name": self.listdir_names[0], "check_size": 1000, "bucket": self.server.private_bucket}
            if workload.key == "wan_url_cold":
                params = {"names": cold_names, **check}
            else:
                params = {"names": [cold_names[i % len(cold_names)] for i in range(10 * p.wan_ops)], **check}
                params["warm_names"] = cold_names
        elif workload.kind == "url":
            cold_names = self.listdir_names[: p.url_cold]
            check = {"check_name": self.listdir_names[0], "check_size": 1000}
            if workload.key == "url_cold":
                params = {"bucket": self.server.private_bucket, "names": cold_names, **check}
            elif workload.key == "url_warm":
                names = [cold_names[i % len(cold_names)] for i in range(p.url_warm)]
                params = {
                    "bucket": self.server.private_bucket,
                    "names": names,
                    "warm_names": cold_names,
                    "budget_seconds": p.anchor_url_budget if client == "anchor" else None,
                    **check,
                }
                if client == "anchor":
                    # 3.1.0 keeps no cache: warming it up is the same as the timed part.
                    params["warm_names"] = cold_names[:10]
            else:
                params = {
                    "bucket": self.server.public_bucket,
                    "names": [f"pub/obj-{i:06d}.bin" for i in range(p.url_public)],
                    "check_name": "pub/check.bin",
                    "check_size": 1000,
                }
        elif workload.kind in ("exists", "size"):
            count = p.exists if workload.kind == "exists" else p.size
            count = p.wan_ops if workload.key.startswith("wan_") else count
            params = {"names": self.listdir_names[:count], "size": 1000}
        elif workload.kind == "listdir":
            params = {"path": "ls", "files": p.listdir_files}
        elif workload.kind == "saves":
            threads = p.save_threads if workload.key == "saves_threads" else 1
            count = p.wan_ops if workload.key.startswith("wan_") else p.saves
            params = {
                "names": [f"{prefix}/file-{i:04d}.bin" for i in range(count)],
                "threads": threads,
                "size": p.save_size,
                "overwrite": workload.key != "wan_saves_keep",
            }
        else:
            params = self.more_params(workload, client, prefix)
        return {"id": workload.key, "kind": workload.kind, "params": params}

    def more_params(self, workload: Workload, client: str, prefix: str) -> dict[str, Any]:
        """The tasks added with server-side copy, static files and the WAN pass."""
        p = self.profile
        if workload.kind == "url_page":
            names = self.listdir_names[1:]
            pages = [
                [names[(page * p.url_page_names + i) % len(names)] for i in range(p.url_page_names)]
                for page in range(p.url_pages)
            ]
            return {"pages": pages, "expire": 600, "warm_name": self.listdir_names[0]}
        if workload.kind == "copy":
            return {
                "source": "dl/large.bin",
                "target": f"{prefix}/copy.bin",
                "server_side": workload.key == "copy_server",
                "size": p.large_size,
                "sha256": self.sha256["large"],
            }
        if workload.kind == "collectstatic":
            wan = workload.key.startswith("wan_")
            # "again" collects into the location the first run of this repeat filled.
            location = prefix if wan else prefix.replace(workload.key, "collectstatic")
            return {
                "source": str(self.static_source),
                "files": self.static_files,
                "location": location,
                "static_root": str(self.work_dir / "static-root" / location),
                "prime": wan,
            }
        if workload.kind == "read_small":
            return {"names": self.listdir_names[: p.wan_ops], "size": 1000}
        raise ValueError(workload.kind)

    # -- running clients ---------------------------------------------------------------

    def run_worker(self, client: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        spec_path = self.work_dir / f"spec-{client}.json"
        spec_env = {**self.env, **self.ours_env} if client == "ours" else self.env
        spec: dict[str, Any] = {"client": client, "env": spec_env, "tasks": tasks}
        if self.profile_to is not None and client != "anchor":
            spec["profile_to"] = str(self.profile_to)
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BKREPO_") and k != "DJANGO_SETTINGS_MODULE"}
        if client == "anchor":
            command = [str(anchor.anchor_python()), "-I", str(BENCH_DIR / "worker.py"), str(spec_path)]
            env.pop("PYTHONPATH", None)
        else:
            command = [sys.executable, str(BENCH_DIR / "worker.py"), str(spec_path)]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                cwd=self.work_dir,
                timeout=self.profile.worker_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [{"id": task["id"], "error": "the worker timed out"} for task in tasks]
        results = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        finished = {result["id"] for result in results}
        for task in tasks:
            if task["id"] not in finished:
                tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
                results.append({"id": task["id"], "error": f"the worker exited {done.returncode}: {tail[0][:300]}"})
        return results

    def run_curl(self, workload: Workload, repeat: int) -> dict[str, Any]:
        """curl as its own process: one invocation for all the transfers of a workload."""
        task = self.task(workload, "curl", repeat)["params"]
        endpoint, project = self.env["BKREPO_ENDPOINT_URL"], self.env["BKREPO_PROJECT"]
        base = f"{endpoint}/generic/{project}/{self.server.private_bucket}"
        lines = [
            f'user = "{self.server.username}:{self.server.password}"',
            'write-out = "%{http_code} %{size_download} %{size_upload} %{time_total}\\n"',
            "silent",
            "show-error",
        ]
        if workload.kind == "download":
            for name in task["names"]:
                lines += [f'url = "{base}/{name}"', 'output = "/dev/null"']
        else:
            lines += ['header = "X-BKREPO-OVERWRITE: true"', 'header = "Expect:"']
            for name in task["names"]:
                lines += [f'upload-file = "{task["source"]}"', f'url = "{base}/{name}"', 'output = "/dev/null"']
        config = self.work_dir / "curl.config"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out_path = self.work_dir / "curl.out"
        with open(out_path, "wb") as out:
            process = subprocess.Popen(["curl", "--config", str(config)], stdout=out, stderr=subprocess.DEVNULL)
            peak = watch_peak_rss(process)
        config.unlink()
        rows = [line.split() for line in out_path.read_text("ascii").splitlines() if line.strip()]
        result: dict[str, Any] = {"id": workload.key, "peak_rss_kib": peak}
        codes = {row[0] for row in rows}
        if process.returncode != 0 or len(rows) != len(task["names"]) or codes != {"200"}:
            result["error"] = f"curl exited {process.returncode} with statuses {sorted(codes)}"
            return result
        column = 1 if workload.kind == "download" else 2
        result["bytes"] = sum(int(row[column]) for row in rows)
        result["seconds"] = sum(float(row[3]) for row in rows)
        result["ops"] = len(rows)
        return result

    def record(self, client: str, result: dict[str, Any]) -> None:
        self.results.setdefault(result["id"], {}).setdefault(client, []).append(result)
        if "error" in result:
            self.say(f"  {client} {result['id']}: {result['error']}")

    def workloads(self) -> list[Workload]:
        every = workloads(self.profile) + wan_workloads(self.profile)
        return [w for w in every if self.only is None or w.key in self.only]

    def lan_workloads(self) -> list[Workload]:
        return [w for w in self.workloads() if not w.key.startswith("wan_")]

    def clients_for(self, workload: Workload) -> list[str]:
        return [
            c
            for c in workload.clients
            if (c != "anchor" or self.with_anchor) and (self.clients is None or c in self.clients)
        ]

    def run_full(self) -> None:
        for repeat in range(self.profile.repeats):
            for workload in self.lan_workloads():
                self.say(f"repeat {repeat + 1}/{self.profile.repeats}: {workload.title}")
                for client in self.clients_for(workload):
                    if client == "curl":
                        self.record(client, self.run_curl(workload, repeat))
                    else:
                        for result in self.run_worker(client, [self.task(workload, client, repeat)]):
                            self.record(client, result)
        self.run_checks()

    def run_smoke(self) -> None:
        """One process per client with every task in it: seconds, not minutes."""
        per_client: dict[str, list[dict[str, Any]]] = {}
        for workload in self.lan_workloads():
            for client in self.clients_for(workload):
                if client == "curl":
                    self.record(client, self.run_curl(workload, 0))
                else:
                    per_client.setdefault(client, []).append(self.task(workload, client, 0))
        for client, tasks in per_client.items():
            self.say(f"{client}: {len(tasks)} workloads in one process")
            for result in self.run_worker(client, tasks):
                self.record(client, result)
        self.run_checks()

    def run_wan(self) -> None:
        """The WAN workloads through a proxy that delays every byte, one process per client and repeat."""
        wan = [w for w in self.workloads() if w.key.startswith("wan_")]
        if not wan:
            return
        endpoint = self.env["BKREPO_ENDPOINT_URL"]
        port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
        saved_env = self.env
        with DelayProxy("127.0.0.1", port, self.profile.wan_delay) as proxy:
            self.env = {**saved_env, "BKREPO_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
            try:
                for repeat in range(self.profile.repeats):
                    for client in ("ours", "anchor"):
                        if client not in self.clients_for(wan[0]):
                            continue
                        self.say(f"WAN repeat {repeat + 1}/{self.profile.repeats}: {client}")
                        tasks = [self.task(workload, client, repeat) for workload in wan]
                        for result in self.run_worker(client, tasks):
                            self.record(client, result)
            finally:
                self.env = saved_env

    def run_checks(self) -> None:
        if self.only is not None:
            return
        for client in ("ours", "anchor"):
            if (client == "anchor" and not self.with_anchor) or (
                self.clients is not None and client not in self.clients
            ):
                continue
            task = {"id": "checks", "kind": "checks", "params": {"prefix": f"checks/{client}"}}
            (result,) = self.run_worker(client, [task])
            if "checks" in result:
                self.checks[client] = result["checks"]
            else:
                self.checks[client] = {"all checks": result.get("error", "no result")}

    def server_peak_rss_kib(self) -> int | None:
        process = self.server.process
        if process is None:
            return None
        try:
            with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None


def watch_peak_rss(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process``, sampling its ``VmHWM``; return the last sample in KiB.

    ``ru_maxrss`` from ``wait4`` cannot be used: a child started from this
    (much larger) Python process inherits its high-water mark across exec.
    """
    peak = 0
    status_path = f"/proc/{process.pid}/status"
    while process.poll() is None:
        try:
            with open(status_path, encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    return peak


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_DIR), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat, one process per client")
    parser.add_argument("--repeats", type=int, help="repeats per figure (median is reported)")
    parser.add_argument("--out", type=Path, help="markdown file to write (default bench/results.md)")
    parser.add_argument("--chart", type=Path, help="PNG chart to write (default bench/results.png)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--no-anchor", action="store_true", help="leave bkstorages 3.1.0 out")
    parser.add_argument("--only", help="comma-separated workload keys to run (e.g. download_large,saves_threads)")
    parser.add_argument("--clients", help="comma-separated clients to run (ours,anchor,curl,requests)")
    parser.add_argument(
        "--profile-to",
        type=Path,
        help="profile every ours/requests task with pyinstrument and write the text reports to this folder",
    )
    parser.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for ours only, e.g. BKREPO_BLOCK_UPLOAD_THRESHOLD=4294967296 (what-if runs)",
    )
    args = parser.parse_args(argv)
    notes: list[str] = []
    ours_env = dict(item.split("=", 1) for item in args.ours_env)
    if ours_env:
        notes.append("ours ran with " + ", ".join(f"`{k}={v}`" for k, v in ours_env.items()) + ".")
    only = set(args.only.split(",")) if args.only else None
    clients = set(args.clients.split(",")) if args.clients else None
    if args.profile_to:
        args.profile_to.mkdir(parents=True, exist_ok=True)

    profile = SMOKE if args.smoke else FULL
    if args.repeats:
        profile = dataclasses.replace(profile, repeats=args.repeats)
    # A smoke run must never replace the committed results of a full run.
    out_dir = Path(tempfile.gettempdir()) / "bkstorages-bench-smoke" if args.smoke else BENCH_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out or out_dir / "results.md"
    chart = args.chart or out_dir / "results.png"
    if shutil.which("curl") is None:
        print("curl is missing: install it (apt-get install curl) and run again", file=sys.stderr)
        return 2

    anchor_version: str | None = None
    if args.no_anchor:
        notes.append("bkstorages 3.1.0 was left out (--no-anchor).")
    elif args.smoke or (clients is not None and "anchor" not in clients):
        anchor_version = anchor.installed_version()
        if anchor_version != anchor.ANCHOR_VERSION:
            anchor_version = None
            notes.append(
                "bkstorages 3.1.0 column skipped: bench/.venv-anchor is missing (`make bench` creates it); "
                "the smoke run does not download it."
            )
    else:
        anchor_version = anchor.ensure_anchor()

    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="bkstorages-bench-"))
    try:
        with DevServer(data_dir=work_dir / "server-data") as server:
            bench = Bench(
                profile,
                work_dir,
                server,
                with_anchor=anchor_version is not None,
                only=only,
                clients=clients,
                profile_to=args.profile_to,
                ours_env=ours_env,
            )
            bench.say(f"{profile.name} run against {server.endpoint_url}, data in {work_dir}")
            bench.seed()
            if args.smoke:
                bench.run_smoke()
            else:
                bench.run_full()
            bench.run_wan()
            server_rss = bench.server_peak_rss_kib()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    elapsed = time.monotonic() - started

    meta = {
        "profile": profile.name,
        "repeats": profile.repeats,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "python": platform.python_version(),
        "cpu": f"{os.cpu_count()} x {cpu_model()}",
        "anchor_version": anchor_version,
        "curl": " ".join(
            subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False).stdout.split()[:2]
        ),
        "elapsed_seconds": elapsed,
        "server_peak_rss_kib": server_rss,
        "anchor_read_budget": profile.anchor_read_budget,
        "anchor_url_budget": profile.anchor_url_budget,
    }
    if args.json:
        args.json.write_text(
            json.dumps({"meta": meta, "results": bench.results, "checks": bench.checks, "notes": notes}, indent=1),
            encoding="utf-8",
        )
    meta["wan_delay_ms"] = profile.wan_delay * 1000
    table = report.summarise(bench.workloads(), bench.results)
    try:
        chart_note = report.chart(table, chart, title=f"bkstorages benchmarks ({profile.name} run, {meta['date']})")
    except Exception as error:  # a broken chart must not lose the figures
        chart_note = f"chart failed: {type(error).__name__}: {error}"
    if chart_note:
        notes.append(chart_note[0].upper() + chart_note[1:] + ".")
    out.write_text(report.markdown(meta, table, bench.checks, notes), encoding="utf-8")
    print(f"wrote {out}" + (f" and {chart}" if chart_note is None else f" ({chart_note})"))
    print(f"total time {elapsed:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
