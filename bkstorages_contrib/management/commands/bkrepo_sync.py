"""``manage.py bkrepo_sync SRC DEST``: copy a local directory to a bucket path, or back.

One side is a local directory, the other a path in a storage written as
``bkrepo:PATH`` (``bkrepo:`` alone is the storage root; ``bkrepo://PATH``
works too). Files that already exist on the other side with the same size and
sha256 are skipped, so running the command again after an interruption
finishes the job without sending completed files again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bkstorages_contrib.management.transfer import (
    Fingerprint,
    Progress,
    Stopwatch,
    atomic_local_write,
    describe_error,
    get_storage,
    human_size,
    join_name,
    list_files,
    local_fingerprint,
    run_parallel,
    save_exactly,
    storage_fingerprint,
    storage_label,
)

REMOTE_PREFIX = "bkrepo:"


@dataclass
class Plan:
    """What a sync will do, relative paths on both sides."""

    copy: list[tuple[str, int, str]] = field(default_factory=list)  # (path, size, reason)
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def parse_remote(spec: str) -> str | None:
    """The bucket path of a ``bkrepo:PATH`` argument, or None for a local path."""
    if not spec.startswith(REMOTE_PREFIX):
        return None
    path = spec[len(REMOTE_PREFIX) :]
    if path.startswith("//"):
        path = path[2:]
    return path.strip("/")


def local_files(root: str) -> dict[str, str]:
    """Relative POSIX name -> absolute path of every regular file below ``root``."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            if ".bkrepo-partial-" in filename:
                continue  # leftovers of an interrupted download
            absolute = os.path.join(directory, filename)
            if os.path.isfile(absolute):
                relative = os.path.relpath(absolute, root).replace(os.sep, "/")
                found[relative] = absolute
    return found


class Command(BaseCommand):
    help = (
        "Copy a local directory to a bucket path (bkrepo:PATH) or a bucket path to a local directory. "
        "Identical files (same size and sha256) are skipped, so an interrupted sync can simply be run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="SRC", help="a local directory, or bkrepo:PATH")
        parser.add_argument("destination", metavar="DEST", help="bkrepo:PATH, or a local directory")
        parser.add_argument(
            "--storage", default="default", help="the STORAGES alias that bkrepo: paths refer to (default: default)"
        )
        parser.add_argument("--delete", action="store_true", help="remove files from DEST that do not exist in SRC")
        parser.add_argument("--dry-run", action="store_true", help="show what would be done and change nothing")
        parser.add_argument(
            "--workers", type=int, default=4, metavar="N", help="how many files to transfer at once (default: 4)"
        )
        parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        source: str = options["source"]
        destination: str = options["destination"]
        workers: int = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        remote_source, remote_destination = parse_remote(source), parse_remote(destination)
        if (remote_source is None) == (remote_destination is None):
            raise CommandError("Exactly one of SRC and DEST must be a bucket path written as bkrepo:PATH.")

        storage = get_storage(options["storage"])
        self.storage = storage
        self.verbosity = int(options["verbosity"])
        if remote_destination is not None:
            local_root = os.path.abspath(source)
            if not os.path.isdir(local_root):
                raise CommandError(f"{source} is not a directory.")
            self.upload = True
            self.remote_root = remote_destination
        else:
            assert remote_source is not None
            local_root = os.path.abspath(destination)
            if os.path.exists(local_root) and not os.path.isdir(local_root):
                raise CommandError(f"{destination} exists and is not a directory.")
            self.upload = False
            self.remote_root = remote_source
        self.local_root = local_root
        where = f"{REMOTE_PREFIX}{self.remote_root} in storage {storage_label(storage, options['storage'])}"
        if self.upload:
            self.stdout.write(f"Syncing {local_root} -> {where}")
        else:
            self.stdout.write(f"Syncing {where} -> {local_root}")

        clock = Stopwatch()
        try:
            plan = self.make_plan(workers, options["delete"])
            if options["dry_run"]:
                self.show_plan(plan)
                return
            copied, copied_bytes, deleted = self.run_plan(plan, workers, not options["no_progress"])
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. Run the same command again to finish: completed files will be skipped.", returncode=130
            ) from None

        summary = (
            f"{'Uploaded' if self.upload else 'Downloaded'} {len(copied)} file(s) ({human_size(copied_bytes)}), "
            f"{len(plan.unchanged)} unchanged, {len(deleted)} deleted, {len(plan.failed)} failed in {clock}."
        )
        if plan.failed:
            self.stdout.write(summary, style_func=self.style.ERROR)
            for path, reason in plan.failed:
                self.stderr.write(f"  failed: {path}: {reason}")
            raise CommandError(f"{len(plan.failed)} file(s) could not be synced; run the command again to retry.")
        self.stdout.write(summary, style_func=self.style.SUCCESS)

    # ------------------------------------------------------------------
    # Planning
    # ------------------------------------------------------------------

    def make_plan(self, workers: int, delete: bool) -> Plan:
        plan = Plan()
        local = local_files(self.local_root) if os.path.isdir(self.local_root) else {}
        remote = list_files(self.storage, self.remote_root)
        self.remote_listing = remote
        if self.upload:
            sources, targets = set(local), set(remote)
        else:
            sources, targets = set(remote), set(local)

        new = sorted(sources - targets)
        both = sorted(sources & targets)
        for path in new:
            if self.upload:
                size = os.path.getsize(local[path])
            else:
                known = remote[path]
                size = known.size if known is not None else -1
            plan.copy.append((path, size, "new"))

        def compare(path: str) -> tuple[str, int, str | None]:
            remote_print = remote[path] or storage_fingerprint(self.storage, join_name(self.remote_root, path))
            if remote_print.size != os.path.getsize(local[path]):
                source_size = os.path.getsize(local[path]) if self.upload else remote_print.size
                return path, source_size, "size differs"
            local_print = local_fingerprint(local[path])
            if local_print == remote_print:
                return path, local_print.size, None
            return path, local_print.size, "changed"

        results = []
        for path, result, error in run_parallel(compare, both, workers):
            if error is not None:
                if not isinstance(error, Exception):
                    raise error
                plan.failed.append((path, describe_error(error)))
            else:
                assert result is not None
                results.append(result)
        for path, size, reason in sorted(results):
            if reason is None:
                plan.unchanged.append(path)
            else:
                plan.copy.append((path, size, reason))
        plan.copy.sort()
        if delete:
            plan.delete = sorted(targets - sources)
        return plan

    def show_plan(self, plan: Plan) -> None:
        verb = "upload" if self.upload else "download"
        for path, size, reason in plan.copy:
            shown = f" ({human_size(size)})" if size >= 0 else ""
            self.stdout.write(f"would {verb} {path}{shown} [{reason}]")
        for path in plan.delete:
            self.stdout.write(f"would delete {path}")
        if self.verbosity >= 2:
            for path in plan.unchanged:
                self.stdout.write(f"unchanged {path}")
        for path, error in plan.failed:
            self.stderr.write(f"cannot compare {path}: {error}")
        self.stdout.write(
            f"Dry run: {len(plan.copy)} to {verb}, {len(plan.unchanged)} unchanged, "
            f"{len(plan.delete)} to delete, {len(plan.failed)} failed. Nothing was changed."
        )
        if plan.failed:
            raise CommandError(f"{len(plan.failed)} file(s) could not be compared.")

    # ------------------------------------------------------------------
    # Transfers
    # ------------------------------------------------------------------

    def run_plan(self, plan: Plan, workers: int, show_bar: bool) -> tuple[list[str], int, list[str]]:
        copied: list[str] = []
        deleted: list[str] = []
        copied_bytes = 0
        known_bytes = sum(size for _, size, _ in plan.copy if size > 0)
        progress = Progress(
            self.stdout,
            len(plan.copy) + len(plan.delete),
            total_bytes=known_bytes if all(size >= 0 for _, size, _ in plan.copy) else None,
            description="upload" if self.upload else "download",
            enabled=show_bar,
        )
        verb = "uploaded" if self.upload else "downloaded"
        transfer: Callable[[str], int] = self.upload_file if self.upload else self.download_file
        jobs = [("copy", path) for path, _, _ in plan.copy] + [("delete", path) for path in plan.delete]

        def work(job: tuple[str, str]) -> int:
            action, path = job
            return transfer(path) if action == "copy" else self.delete_file(path)

        try:
            for (action, path), size, error in run_parallel(work, jobs, workers):
                if error is not None:
                    if not isinstance(error, Exception):
                        raise error
                    plan.failed.append((path, describe_error(error)))
                    progress.message(f"FAILED {path}: {describe_error(error)}", style=self.style.ERROR)
                elif action == "copy":
                    assert size is not None
                    copied.append(path)
                    copied_bytes += size
                    progress.item_done(f"{verb} {path} ({human_size(size)})", size)
                else:
                    deleted.append(path)
                    progress.item_done(f"deleted {path}")
        finally:
            progress.close()
        plan.failed.sort()
        return copied, copied_bytes, deleted

    def upload_file(self, path: str) -> int:
        name = join_name(self.remote_root, path)
        absolute = os.path.join(self.local_root, *path.split("/"))
        expected = local_fingerprint(absolute)
        with open(absolute, "rb") as fh:
            save_exactly(self.storage, name, fh)
        actual = storage_fingerprint(self.storage, name)
        if actual != expected:
            raise CommandError(f"verification failed: {_describe(expected)} sent, {_describe(actual)} stored")
        return expected.size

    def download_file(self, path: str) -> int:
        name = join_name(self.remote_root, path)
        destination = os.path.join(self.local_root, *path.split("/"))
        expected = self.remote_listing.get(path) or storage_fingerprint(self.storage, name)
        with self.storage.open(name, "rb") as fh:
            actual = atomic_local_write(destination, iter(fh.chunks()))
        if actual != expected:
            os.remove(destination)
            raise CommandError(f"verification failed: {_describe(expected)} stored, {_describe(actual)} received")
        return actual.size

    def delete_file(self, path: str) -> int:
        if self.upload:
            self.storage.delete(join_name(self.remote_root, path))
        else:
            os.remove(os.path.join(self.local_root, *path.split("/")))
        return 0


def _describe(fingerprint: Fingerprint) -> str:
    return f"{fingerprint.size} bytes sha256 {fingerprint.sha256[:12]}…"
