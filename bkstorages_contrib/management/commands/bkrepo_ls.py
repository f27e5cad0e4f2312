"""``manage.py bkrepo_ls [PATH] [-r] [-l]``: list a bucket like ``ls``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.files.storage import Storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from bkstorages_contrib.management.transfer import describe_error, get_storage, human_size, join_name


def size_and_time(storage: Storage, name: str) -> tuple[int, datetime | None]:
    """A file's size and modification time (current time zone; None if unknown).

    bkstorages storages answer both with one metadata request through ``stat()``.
    """
    stat = getattr(storage, "stat", None)
    if callable(stat):
        info = stat(name)
        size, modified = int(info.size), info.modified_time
    else:
        size = storage.size(name)
        try:
            modified = storage.get_modified_time(name)
        except NotImplementedError:
            modified = None
    if modified is not None and timezone.is_aware(modified):
        modified = timezone.localtime(modified)
    return size, modified


class Command(BaseCommand):
    help = "List the files of a storage (by default the 'default' one) like ls: -l for sizes and times, -r recursive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default="", metavar="PATH", help="directory to list (default: root)")
        parser.add_argument("-r", "--recursive", action="store_true", help="list subdirectories too")
        parser.add_argument("-l", "--long", action="store_true", help="show size and modification time")
        parser.add_argument("--storage", default="default", help="the STORAGES alias to list (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        storage = get_storage(options["storage"])
        root = str(options["path"]).strip("/")
        self.long = bool(options["long"])
        self.total_files = 0
        self.total_bytes = 0
        try:
            dirs, files = storage.listdir(root)
        except FileNotFoundError as exc:
            raise CommandError(f"{root or '/'}: no such directory") from exc
        if not dirs and not files and root:
            # An empty listing of a name that is a file: show the file itself, like ls does.
            try:
                exists = storage.exists(root)
            except Exception:
                exists = False
            if exists:
                self.show_file(storage, root, root)
                return
        self.list_directory(storage, root, "", dirs, files, bool(options["recursive"]))
        if self.long:
            self.stdout.write(f"total {self.total_files} file(s), {human_size(self.total_bytes)}")

    def list_directory(
        self, storage: Storage, root: str, relative: str, dirs: list[str], files: list[str], recursive: bool
    ) -> None:
        entries = [(name, True) for name in dirs] + [(name, False) for name in files]
        for name, is_dir in sorted(entries):
            shown = f"{relative}{name}"
            full = join_name(root, shown)
            if is_dir:
                if self.long:
                    self.stdout.write(f"{'-':>10}  {'':16}  {shown}/")
                else:
                    self.stdout.write(f"{shown}/")
                if recursive:
                    sub_dirs, sub_files = storage.listdir(full)
                    self.list_directory(storage, root, f"{shown}/", sub_dirs, sub_files, recursive)
            else:
                self.show_file(storage, full, shown)

    def show_file(self, storage: Storage, name: str, shown: str) -> None:
        if not self.long:
            self.stdout.write(shown)
            return
        try:
            size, modified = size_and_time(storage, name)
        except Exception as exc:
            self.stderr.write(f"{shown}: {describe_error(exc)}")
            return
        self.total_files += 1
        self.total_bytes += size
        when = modified.strftime("%Y-%m-%d %H:%M") if modified else "?"
        self.stdout.write(f"{human_size(size):>10}  {when:16}  {shown}")
