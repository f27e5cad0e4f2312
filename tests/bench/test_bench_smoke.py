"""Keeps the benchmark scripts alive: a smoke run (tiny sizes) of bench/run.py.

This checks that every client produces figures and that the report is
written; it asserts nothing about speed (that is what ``make bench`` is for).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import anchor, report

REPO_DIR = Path(__file__).resolve().parents[2]
TRANSFERS = ["download_small", "download_medium", "download_large", "upload_small", "upload_medium", "upload_large"]
OPERATIONS = [
    "random_read",
    "url_cold",
    "url_warm",
    "url_public",
    "exists",
    "size",
    "listdir",
    "saves_sequential",
    "saves_threads",
    "url_page",
    "copy_server",
    "copy_client",
    "collectstatic_first",
    "collectstatic_again",
]
WAN = [
    "wan_saves_overwrite",
    "wan_saves_keep",
    "wan_exists",
    "wan_size",
    "wan_listdir",
    "wan_read_small",
    "wan_url_cold",
    "wan_url_warm",
    "wan_collectstatic",
]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_DIR / "bench" / "run.py"),
            "--smoke",
            "--out",
            str(out / "results.md"),
            "--chart",
            str(out / "results.png"),
            "--json",
            str(out / "results.json"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data: dict[str, Any] = json.loads((out / "results.json").read_text("utf-8"))
    data["markdown"] = (out / "results.md").read_text("utf-8")
    data["chart"] = out / "results.png"
    return data


def runs_of(smoke: dict[str, Any], workload: str, client: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = smoke["results"].get(workload, {}).get(client, [])
    return runs


@pytest.mark.parametrize("workload", TRANSFERS)
@pytest.mark.parametrize("client", ["ours", "curl", "requests"])
def test_every_transfer_has_a_figure(smoke: dict[str, Any], workload: str, client: str) -> None:
    (run,) = runs_of(smoke, workload, client)
    assert "error" not in run, run
    assert run["bytes"] > 0
    assert run["seconds"] > 0
    assert isinstance(run.get("rss_growth_kib", run.get("peak_rss_kib")), int)


@pytest.mark.parametrize("workload", OPERATIONS)
def test_every_operation_runs_with_ours(smoke: dict[str, Any], workload: str) -> None:
    (run,) = runs_of(smoke, workload, "ours")
    assert "error" not in run, run
    assert run["ops"] > 0
    assert run["seconds"] > 0


@pytest.mark.parametrize("workload", ["collectstatic_first", "collectstatic_again"])
def test_collectstatic_runs_on_local_disk_too(smoke: dict[str, Any], workload: str) -> None:
    (run,) = runs_of(smoke, workload, "local")
    assert "error" not in run, run
    assert run["files"] > 0
    assert run["requests"] == 0  # Django's own storage on disk: the floor, no bk-repo


@pytest.mark.parametrize("workload", WAN)
def test_wan_rows_run_through_the_delay_proxy_with_requests_counted(smoke: dict[str, Any], workload: str) -> None:
    (run,) = runs_of(smoke, workload, "ours")
    assert "error" not in run, run
    assert run["ops"] > 0
    if workload != "wan_url_warm":  # warm URLs come from the cache
        assert run["requests"] >= run["ops"]
    assert "## Across a WAN" in smoke["markdown"]


def test_request_counts_per_call(smoke: dict[str, Any]) -> None:
    (exists,) = runs_of(smoke, "exists", "ours")
    assert exists["requests"] == exists["ops"]
    (warm,) = runs_of(smoke, "url_warm", "ours")
    assert warm["requests"] == 0


def test_random_reads_fetch_little(smoke: dict[str, Any]) -> None:
    (ours,) = runs_of(smoke, "random_read", "ours")
    (raw,) = runs_of(smoke, "random_read", "requests")
    # The smoke object is 4 MiB: reading 4 KiB of it must not download most of it.
    assert 4096 <= ours["received_per_op"] < 2 * 1024 * 1024
    assert 4096 <= raw["received_per_op"] < 8192


def test_ours_passes_the_correctness_checks(smoke: dict[str, Any]) -> None:
    checks = smoke["checks"]["ours"]
    assert len(checks) >= 5
    assert checks == dict.fromkeys(checks, "ok")


def test_anchor_column_runs_or_says_why_not(smoke: dict[str, Any]) -> None:
    if anchor.installed_version() == anchor.ANCHOR_VERSION:
        for workload in TRANSFERS + OPERATIONS:
            if "anchor" not in {c for w in run_workloads() if w.key == workload for c in w.clients}:
                continue
            (run,) = runs_of(smoke, workload, "anchor")
            assert "seconds" in run, run
        # 3.1.0's size() returns the header string: reported, not hidden.
        (size_run,) = runs_of(smoke, "size", "anchor")
        assert "(str)" in size_run["error"]
        assert "size() returned '1000' (str)" in smoke["markdown"]
    else:
        assert "bkstorages 3.1.0 column skipped" in smoke["markdown"]
        assert not any("anchor" in clients for clients in smoke["results"].values())


def test_report_has_targets_tables_and_chart(smoke: dict[str, Any]) -> None:
    markdown = smoke["markdown"]
    for heading in ("## Targets", "## Transfers", "## Operations", "## Correctness through the public API"):
        assert heading in markdown
    assert "| download 64 KiB x5 |" in markdown
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "Chart skipped: matplotlib is not installed" in markdown
    else:
        assert smoke["chart"].read_bytes().startswith(b"\x89PNG")


def result(seconds: float, **extra: Any) -> dict[str, Any]:
    return {"seconds": seconds, "ops": 10, "bytes": 10_000_000, **extra}


def test_summary_takes_medians_and_judges_targets() -> None:
    workloads = [
        report_workload("download_large", "download 1 GiB", "MB/s"),
        report_workload("listdir", "listdir() of 10000 files", "s"),
    ]
    results = {
        "download_large": {
            "ours": [result(1.0, rss_growth_kib=100), result(3.0, rss_growth_kib=40_000), result(2.0)],
            "curl": [result(1.0), result(1.0), result(1.0)],
            "anchor": [result(100.0)],
        },
        "listdir": {"ours": [result(2.0)], "anchor": [result(1.0)]},
    }
    rows = report.summarise(workloads, results)
    download = rows[0]
    assert download.value("ours") == pytest.approx(5.0)  # the median of 10, 3.3 and 5 MB/s
    assert download.cells["ours"].rss_kib == 40_000  # the worst repeat
    assert download.speedup("ours", "curl") == pytest.approx(0.5)
    assert download.speedup("ours", "anchor") == pytest.approx(50.0)
    assert rows[1].speedup("ours", "anchor") == pytest.approx(0.5)  # lower is better for seconds
    verdicts = {target.label: target.met for target in report.targets(rows)}
    assert verdicts["download 1 GiB: ≥ 0.9x curl"] is False
    assert verdicts["download 1 GiB: ≥ 8x 3.1.0"] is True
    assert verdicts["download 1 GiB: RSS growth ≤ 32 MiB"] is False
    assert verdicts["listdir(): no slower than 3.1.0"] is False
    assert verdicts["upload_large: RSS growth ≤ 32 MiB"] is None


def run_workloads() -> list[Any]:
    from bench.run import SMOKE, workloads

    return workloads(SMOKE)


def report_workload(key: str, title: str, measure: str) -> Any:
    from bench.run import Workload

    return Workload(key, title, key.split("_")[0], measure, ("ours", "anchor", "curl"))
