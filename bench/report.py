"""Turning raw benchmark results into figures, a markdown table and a PNG chart."""

from __future__ import annotations

import dataclasses
import statistics
import textwrap
from pathlib import Path
from typing import Any

CLIENT_TITLES = {"ours": "ours", "anchor": "3.1.0", "curl": "curl", "requests": "requests", "local": "local disk"}
HIGHER_IS_BETTER = {"MB/s": True, "ops/s": True, "ms": False, "s": False, "ms/op": False}
#: Rows with sections of their own (not in the operations table or the chart).
OWN_SECTION = ("wan_", "collectstatic_", "copy_")
MIB_KIB = 1024


@dataclasses.dataclass
class Cell:
    """One client's figure for one workload: the median over repeats."""

    value: float | None = None
    repeats: int = 0
    ops: int = 0
    rss_kib: int | None = None
    received_per_op: float | None = None
    cpu_ms_per_op: float | None = None
    requests_per_op: float | None = None
    errors: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Row:
    key: str
    title: str
    kind: str
    measure: str
    cells: dict[str, Cell]

    def value(self, client: str) -> float | None:
        cell = self.cells.get(client)
        return cell.value if cell else None

    def speedup(self, client: str, other: str) -> float | None:
        """How many times better ``client`` is than ``other`` (>1 means better)."""
        mine, theirs = self.value(client), self.value(other)
        if not mine or not theirs:
            return None
        return mine / theirs if HIGHER_IS_BETTER[self.measure] else theirs / mine


def figure(measure: str, result: dict[str, Any]) -> float | None:
    if "seconds" not in result or not result.get("ops"):
        return None
    seconds = max(result["seconds"], 1e-9)
    if measure == "MB/s":
        return float(result["bytes"]) / seconds / 1e6
    if measure == "ops/s":
        return float(result["ops"]) / seconds
    if measure == "ms":
        return float(result["latency_median"]) * 1000
    if measure == "ms/op":
        return seconds * 1000 / float(result["ops"])
    return float(seconds)


def summarise(workloads: list[Any], results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[Row]:
    rows = []
    for workload in workloads:
        cells: dict[str, Cell] = {}
        for client, runs in results.get(workload.key, {}).items():
            cell = Cell()
            values = []
            for run in runs:
                value = figure(workload.measure, run)
                if value is not None:
                    values.append(value)
                    cell.ops += int(run.get("ops", 0))
                if "error" in run and run["error"] not in cell.errors:
                    cell.errors.append(run["error"])
                rss = run.get("rss_growth_kib", run.get("peak_rss_kib"))
                if rss is not None:
                    cell.rss_kib = max(cell.rss_kib or 0, int(rss))
                if run.get("received_per_op") is not None:
                    cell.received_per_op = float(run["received_per_op"])
            cpu = [1000 * run["cpu_seconds"] / run["ops"] for run in runs if run.get("cpu_seconds") and run.get("ops")]
            cell.cpu_ms_per_op = statistics.median(cpu) if cpu else None
            counted = [run["requests"] / run["ops"] for run in runs if "requests" in run and run.get("ops")]
            cell.requests_per_op = statistics.median(counted) if counted else None
            cell.repeats = len(values)
            cell.value = statistics.median(values) if values else None
            cells[client] = cell
        rows.append(Row(workload.key, workload.title, workload.kind, workload.measure, cells))
    return rows


# -- targets --------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    label: str
    measured: str
    met: bool | None  # None: not measured


def targets(rows: list[Row]) -> list[Target]:
    by_key = {row.key: row for row in rows}
    found: list[Target] = []

    def ratio_target(key: str, other: str, wanted: float, label: str) -> None:
        row = by_key.get(key)
        ratio = row.speedup("ours", other) if row else None
        shown = "not measured" if ratio is None else f"{ratio:.2f}x"
        found.append(Target(label, shown, None if ratio is None else ratio >= wanted))

    for size in ("small", "medium", "large"):
        key = f"download_{size}"
        title = by_key[key].title if key in by_key else key
        ratio_target(key, "curl", 0.9, f"{title}: ≥ 0.9x curl")
        ratio_target(key, "anchor", 8.0, f"{title}: ≥ 8x 3.1.0")
    for size in ("small", "medium", "large"):
        key = f"upload_{size}"
        title = by_key[key].title if key in by_key else key
        ratio_target(key, "curl", 0.85, f"{title}: ≥ 0.85x curl")
    for key in ("download_large", "upload_large"):
        row = by_key.get(key)
        cell = row.cells.get("ours") if row else None
        label = f"{row.title if row else key}: RSS growth ≤ 32 MiB"
        if cell is None or cell.rss_kib is None or cell.value is None:
            found.append(Target(label, "not measured", None))
        else:
            found.append(Target(label, f"{cell.rss_kib / MIB_KIB:.1f} MiB", cell.rss_kib <= 32 * MIB_KIB))
    ratio_target("url_warm", "anchor", 100.0, "private url() warm: ≥ 100x 3.1.0")
    ratio_target("saves_sequential", "anchor", 2.0, "small saves, sequential: ≥ 2x 3.1.0")
    ratio_target("saves_threads", "anchor", 2.0, "small saves, threads: ≥ 2x 3.1.0")
    ratio_target("listdir", "anchor", 1.0, "listdir(): no slower than 3.1.0")
    for key, limit, label in (
        ("collectstatic_first", 3.0, "collectstatic, first run: ≤ 3x the time on local disk"),
        ("collectstatic_again", 2.0, "collectstatic, nothing changed: ≤ 2x the time on local disk"),
    ):
        row = by_key.get(key)
        ours, local = (row.value("ours"), row.value("local")) if row else (None, None)
        if not ours or not local:
            found.append(Target(label, "not measured", None))
        else:
            found.append(Target(label, f"{ours / local:.2f}x", ours / local <= limit))
    return found


# -- markdown ---------------------------------------------------------------------------


def fmt(value: float | None, measure: str) -> str:
    if value is None:
        return "—"
    if measure == "s":
        return f"{value:.3f} s"
    if measure == "ms":
        return f"{value:.2f} ms"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell_text(row: Row, client: str, notes: dict[str, int]) -> str:
    cell = row.cells.get(client)
    if cell is None:
        return "n/a"
    text = fmt(cell.value, row.measure) if cell.value is not None else "failed"
    for error in cell.errors:
        marker = notes.setdefault(f"{CLIENT_TITLES[client]}, {row.title}: {error}", len(notes) + 1)
        text += f" [{marker}]"
    return text


def ratio_text(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}x"


def cpu_text(row: Row) -> str:
    texts = []
    for client in ("ours", "anchor", "requests"):
        cell = row.cells.get(client)
        texts.append("—" if cell is None or cell.cpu_ms_per_op is None else f"{cell.cpu_ms_per_op:.3g}")
    return " / ".join(texts)


def rss_text(row: Row, client: str) -> str:
    cell = row.cells.get(client)
    if cell is None or cell.rss_kib is None:
        return "—"
    return f"{cell.rss_kib / MIB_KIB:.1f}"


def markdown(meta: dict[str, Any], rows: list[Row], checks: dict[str, dict[str, str]], notes: list[str]) -> str:
    problems: dict[str, int] = {}
    lines = ["# bkstorages benchmark results", ""]
    lines += [
        f"`make bench`, {meta['profile']} run of {meta['date']} on commit `{meta['commit']}`: "
        f"{meta['cpu']}, Python {meta['python']}, {meta['curl']}. "
        f"Total run time {meta['elapsed_seconds'] / 60:.1f} min.",
        "",
        "Clients: **ours** = `bkstorages.backends.bkrepo.BKRepoStorage` from this checkout; "
        f"**3.1.0** = bkstorages {meta['anchor_version'] or '3.1.0 (not run)'} from PyPI in `bench/.venv-anchor`; "
        "**curl**; **requests** = raw requests with streaming (`iter_content(1 MiB)` down, file object up). "
        "All against one bk-repo dev server on 127.0.0.1. "
        f"Every figure is the median of {meta['repeats']} repeat(s); each client runs in its own process.",
        "",
    ]
    if meta["profile"] != "full":
        lines += ["**Smoke run: tiny sizes, one repeat. These figures say nothing about speed.**", ""]

    lines += ["## Targets", "", "| Target | Measured | Met |", "| --- | --- | --- |"]
    for target in targets(rows):
        verdict = {True: "yes", False: "**no**", None: "not measured"}[target.met]
        lines.append(f"| {target.label} | {target.measured} | {verdict} |")
    lines.append("")

    lines += [
        "## Transfers",
        "",
        "Throughput in MB/s (10⁶ bytes per second, higher is better). RSS growth in MiB: the client process's "
        "peak RSS during the transfer minus its RSS just before it; for curl, its whole peak RSS.",
        "",
        "| Workload | ours | 3.1.0 | curl | requests | ours ÷ curl | ours ÷ 3.1.0 | ours ÷ requests "
        "| RSS ours | RSS 3.1.0 | RSS requests | curl peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row.measure != "MB/s":
            continue
        lines.append(
            f"| {row.title} | "
            + " | ".join(cell_text(row, client, problems) for client in ("ours", "anchor", "curl", "requests"))
            + f" | {ratio_text(row.speedup('ours', 'curl'))} | {ratio_text(row.speedup('ours', 'anchor'))}"
            + f" | {ratio_text(row.speedup('ours', 'requests'))}"
            + f" | {rss_text(row, 'ours')} | {rss_text(row, 'anchor')} | {rss_text(row, 'requests')}"
            + f" | {rss_text(row, 'curl')} |"
        )
    lines.append("")

    lines += [
        "## Operations",
        "",
        "ops/s: calls per second (higher is better); ms and s: time per call (lower is better). "
        "“ours vs 3.1.0” is how many times faster ours is.",
        "",
        "Client CPU: the client process's own CPU time per call (all its threads), in ms.",
        "",
        "| Workload | unit | ours | 3.1.0 | requests | ours vs 3.1.0 | calls timed (ours / 3.1.0) "
        "| client CPU ms/call (ours / 3.1.0 / requests) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        if row.measure == "MB/s" or row.key.startswith(OWN_SECTION):
            continue
        counts = " / ".join(str(row.cells[c].ops) if c in row.cells else "—" for c in ("ours", "anchor"))
        lines.append(
            f"| {row.title} | {row.measure} | "
            + " | ".join(cell_text(row, client, problems) for client in ("ours", "anchor", "requests"))
            + f" | {ratio_text(row.speedup('ours', 'anchor'))} | {counts} | {cpu_text(row)} |"
        )
    lines.append("")

    lines += static_and_copy_section(rows, problems)
    lines += wan_section(meta, rows, problems)

    reads = next((row for row in rows if row.key == "random_read"), None)
    if reads is not None:
        lines += ["Bytes received per `open(name).read(4096)` (socket bytes, headers included):", ""]
        for client in ("ours", "anchor", "requests"):
            cell = reads.cells.get(client)
            if cell is not None and cell.received_per_op is not None:
                lines.append(f"- {CLIENT_TITLES[client]}: {cell.received_per_op:,.0f} bytes")
        lines.append("")

    if checks:
        clients = [c for c in ("ours", "anchor") if c in checks]
        labels: list[str] = []
        for client in clients:
            labels += [label for label in checks[client] if label not in labels]
        lines += [
            "## Correctness through the public API",
            "",
            "| Check | " + " | ".join(CLIENT_TITLES[c] for c in clients) + " |",
            "| --- |" + " --- |" * len(clients),
        ]
        for label in labels:
            lines.append(f"| {label} | " + " | ".join(checks[c].get(label, "—") for c in clients) + " |")
        lines.append("")

    if problems:
        lines += ["## Problems seen during the run", ""]
        for text, number in sorted(problems.items(), key=lambda item: item[1]):
            lines.append(f"{number}. {text}")
        lines.append("")

    lines += ["## Notes", ""]
    if meta.get("anchor_read_budget"):
        lines.append(
            f"- 3.1.0's `open()` downloads the whole object into memory before the first `read()`, so its random "
            f"reads get a {meta['anchor_read_budget']:.0f} s budget per repeat (at least one read)."
        )
    if meta.get("anchor_url_budget"):
        lines.append(
            f"- 3.1.0 keeps no URL cache and signs every private `url()` with a request, so its warm run gets a "
            f"{meta['anchor_url_budget']:.0f} s budget per repeat; the rate is calls per second either way."
        )
    if meta.get("server_peak_rss_kib"):
        lines.append(
            f"- The dev server's peak RSS over the whole run: {meta['server_peak_rss_kib'] / MIB_KIB:.0f} MiB."
        )
    lines += [f"- {note}" for note in notes]
    lines.append("- Why targets are missed (profiles, causes, what to change): `bench/findings.md`.")
    lines.append(
        "- Reproduce with `make bench` (full) or `make bench-smoke`; raw figures with "
        "`python bench/run.py --json FILE`."
    )
    lines.append("")
    return "\n".join(lines)


def requests_text(row: Row, client: str) -> str:
    cell = row.cells.get(client)
    if cell is None or cell.requests_per_op is None:
        return "—"
    return f"{cell.requests_per_op:.3g}"


def static_and_copy_section(rows: list[Row], problems: dict[str, int]) -> list[str]:
    """collectstatic against Django's own storage on disk, and copies made by bk-repo or through the client."""
    static = [row for row in rows if row.key.startswith("collectstatic_")]
    copies = [row for row in rows if row.key.startswith("copy_")]
    lines: list[str] = []
    if static:
        lines += [
            "## collectstatic",
            "",
            "Django admin's static files with `BKRepoManifestStaticStorage` (ours) and with Django's "
            "`ManifestStaticFilesStorage` on local disk (the floor), in seconds (lower is better).",
            "",
            "| Workload | ours | local disk | ours ÷ local disk | requests (ours) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for row in static:
            local, ours = row.value("local"), row.value("ours")
            ratio = "—" if not local or not ours else f"{ours / local:.2f}x"
            lines.append(
                f"| {row.title} | {cell_text(row, 'ours', problems)} | {cell_text(row, 'local', problems)} "
                f"| {ratio} | {requests_text(row, 'ours')} |"
            )
        lines.append("")
    if copies:
        lines += [
            "## Copies",
            "",
            "Seconds for one copy (lower is better): `copy()` asks bk-repo to copy (no bytes reach the client); "
            "`save(open())` downloads and uploads through the client.",
            "",
            "| Workload | ours | requests |",
            "| --- | ---: | ---: |",
        ]
        for row in copies:
            lines.append(f"| {row.title} | {cell_text(row, 'ours', problems)} | {requests_text(row, 'ours')} |")
        lines.append("")
    return lines


def wan_section(meta: dict[str, Any], rows: list[Row], problems: dict[str, int]) -> list[str]:
    """The operations through the delay proxy: time and HTTP requests per call."""
    wan = [row for row in rows if row.key.startswith("wan_")]
    if not wan:
        return []
    delay = meta.get("wan_delay_ms") or 0
    lines = [
        "## Across a WAN",
        "",
        f"The same kinds of calls through `bench/delayproxy.py`, which delays every byte by {delay:g} ms each way "
        f"({2 * delay:g} ms per round trip), as a bk-repo across a network would. Time per call in ms (lower is "
        "better) and HTTP requests per call, counted in the client process.",
        "",
        "| Workload | ours ms/call | 3.1.0 ms/call | ours vs 3.1.0 | requests/call ours | requests/call 3.1.0 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in wan:
        lines.append(
            f"| {row.title} | {cell_text(row, 'ours', problems)} | {cell_text(row, 'anchor', problems)} "
            f"| {ratio_text(row.speedup('ours', 'anchor'))} | {requests_text(row, 'ours')} "
            f"| {requests_text(row, 'anchor')} |"
        )
    lines.append("")
    return lines


# -- the chart --------------------------------------------------------------------------


def chart(rows: list[Row], path: Path, title: str) -> str | None:
    """Draw the PNG; return None when written, else why it was not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (make bench installs it)"

    colours = {"ours": "#2b7bba", "anchor": "#d9534f", "curl": "#5cb85c", "requests": "#f0ad4e"}
    transfer_rows = [row for row in rows if row.measure == "MB/s"]
    op_rows = [row for row in rows if row.measure != "MB/s" and not row.key.startswith(OWN_SECTION)]
    figure_, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [1.1, 1]})

    width = 0.2
    clients = ["ours", "anchor", "curl", "requests"]
    if not any(row.value(client) for row in transfer_rows for client in clients):
        transfer_rows = []
        left.text(0.5, 0.5, "no transfers measured", ha="center", va="center", transform=left.transAxes)
    for index, client in enumerate(clients if transfer_rows else []):
        xs, heights = [], []
        for position, row in enumerate(transfer_rows):
            value = row.value(client)
            if value:
                xs.append(position + (index - 1.5) * width)
                heights.append(value)
        bars = left.bar(xs, heights, width, label=CLIENT_TITLES[client], color=colours[client])
        left.bar_label(bars, labels=[f"{h:,.0f}" for h in heights], fontsize=6, rotation=90, padding=2)
    if transfer_rows:
        left.set_yscale("log")
        top = max(row.value(client) or 0 for row in transfer_rows for client in clients)
        left.set_ylim(top=top * 3)
        left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=4, fontsize=8)
    left.set_xticks(range(len(transfer_rows)), [row.title for row in transfer_rows], rotation=20, ha="right")
    left.set_ylabel("MB/s (log scale, higher is better)")
    left.set_title("Transfer throughput")
    left.grid(axis="y", which="both", alpha=0.3)

    labels, ratios, bar_colours = [], [], []
    for row in op_rows + transfer_rows:
        ratio = row.speedup("ours", "anchor")
        if ratio is None:
            continue
        labels.append(textwrap.fill(row.title, 34))
        ratios.append(ratio)
        if 0.9 <= ratio <= 1.1:
            bar_colours.append("#999999")  # about the same
        else:
            bar_colours.append(colours["ours"] if ratio > 1 else colours["anchor"])
    if ratios:
        bars = right.barh(range(len(ratios)), ratios, color=bar_colours)
        right.bar_label(bars, labels=[f"{r:,.1f}x" for r in ratios], fontsize=7, padding=2)
        right.set_yticks(range(len(ratios)), labels, fontsize=7)
        right.invert_yaxis()
        right.set_xscale("log")
        right.axvline(1.0, color="black", linewidth=0.8)
        right.set_xlim(min(0.5, min(ratios) / 2), max(ratios) * 4)
    else:
        right.text(0.5, 0.5, "no figure for both ours and 3.1.0", ha="center", va="center", transform=right.transAxes)
    right.set_title("How many times faster ours is than bkstorages 3.1.0")
    right.set_xlabel("speed-up (log scale; left of the line = slower, grey = within 10%)")
    right.grid(axis="x", which="both", alpha=0.3)

    figure_.suptitle(title)
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    plt.close(figure_)
    return None
