"""``manage.py bkrepo_migrate_media --from OLD [--to default]``: move a site's media files to bk-repo.

Every file named in a ``FileField``/``ImageField`` column of any installed
model is copied from the storage ``OLD`` (a STORAGES alias, or the dotted
path of a storage class such as ``django.core.files.storage.FileSystemStorage``
for a Django 4.2 site that used ``DEFAULT_FILE_STORAGE``) to the storage the
field reads it from: the field's own ``storage=``, or, for fields on the
default storage, the one configured as ``--to``. Names stay the same (so the
database stays valid), and each copy is checked (size and sha256) after it
is written. Files that are already identical on the destination are skipped,
which makes the command safe to run again after an interruption. Names whose
source file is missing are listed at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.utils.module_loading import import_string

from bkstorages_contrib.management.transfer import (
    Fingerprint,
    Progress,
    Stopwatch,
    describe_error,
    get_storage,
    human_size,
    run_parallel,
    save_exactly,
    storage_fingerprint,
    storage_label,
)

COPIED, UNCHANGED, MISSING = "copied", "unchanged", "missing"


def file_fields(labels: Iterable[str] = ()) -> list[tuple[type[models.Model], models.FileField]]:
    """Every concrete FileField (ImageField included) of the installed models, optionally filtered.

    ``labels`` are ``app_label`` or ``app_label.ModelName`` strings.
    """
    wanted = {label.lower() for label in labels}
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy:
            continue  # its files are found through the concrete model
        if wanted and meta.app_label.lower() not in wanted and meta.label_lower not in wanted:
            continue
        for field in meta.concrete_fields:
            if isinstance(field, models.FileField):
                found.append((model, field))
    return found


def referenced_names(model: type[models.Model], field: models.FileField) -> list[str]:
    """Every distinct, non-empty file name stored in that column, sorted."""
    queryset = model._base_manager.exclude(**{field.attname: ""}).exclude(**{f"{field.attname}__isnull": True})
    return sorted({str(value) for value in queryset.values_list(field.attname, flat=True).distinct().iterator()})


def source_storage(value: str) -> Storage:
    """A STORAGES alias, or else the dotted path of a storage class built with its defaults."""
    if value in settings.STORAGES or "." not in value:
        return get_storage(value)
    try:
        storage = import_string(value)()
    except Exception as exc:
        raise CommandError(f"No storage {value!r}: not a STORAGES alias, and {type(exc).__name__}: {exc}") from exc
    if not isinstance(storage, Storage):
        raise CommandError(f"{value!r} is not a storage class.")
    return storage


def destination_storage(field: models.FileField, default: Storage) -> Storage:
    """Where the field reads its files from: its own storage, or ``default`` for fields on the default storage."""
    storage = field.storage
    return default if storage is default_storage else storage


Item = tuple[str, Storage]


class Command(BaseCommand):
    help = (
        "Copy every file referenced by FileField/ImageField columns from one storage to the storage of its field "
        "(--to for fields on the default storage), verifying each copy. Safe to run again: identical files are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source",
            required=True,
            metavar="OLD",
            help="STORAGES alias, or dotted path of a storage class, holding the files now",
        )
        parser.add_argument(
            "--to",
            "--storage",
            dest="destination",
            default="default",
            metavar="ALIAS",
            help="STORAGES alias for the files of fields on the default storage (default: default); "
            "a field with its own storage= gets its files there",
        )
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="APP[.MODEL]",
            help="only migrate files of these apps or models (repeatable)",
        )
        parser.add_argument("--dry-run", action="store_true", help="only count what would be copied")
        parser.add_argument("--workers", type=int, default=4, metavar="N", help="files copied at once (default: 4)")
        parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["source"] == options["destination"]:
            raise CommandError("--from and --to name the same storage.")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        self.source = source_storage(options["source"])
        default = get_storage(options["destination"])
        fields = file_fields(options["model"])
        if not fields:
            raise CommandError("No FileField or ImageField found in the selected models.")
        items = self.plan(fields, default, options["destination"])
        self.stdout.write(
            f"Migrating {len(items)} file(s) referenced by {len(fields)} field(s) from {options['source']!r}."
        )
        for line in self.field_lines:
            self.stdout.write(line)
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was copied.")
            return

        clock = Stopwatch()
        results: dict[str, list[str]] = {COPIED: [], UNCHANGED: [], MISSING: []}
        failed: list[tuple[str, str]] = []
        copied_bytes = 0
        progress = Progress(self.stdout, len(items), description="migrate", enabled=not options["no_progress"])
        try:
            for (name, _), result, error in run_parallel(self.migrate, items, options["workers"]):
                if error is not None:
                    if not isinstance(error, Exception):
                        raise error
                    failed.append((name, describe_error(error)))
                    progress.message(f"FAILED {name}: {describe_error(error)}", style=self.style.ERROR)
                    continue
                assert result is not None
                outcome, size = result
                results[outcome].append(name)
                if outcome == COPIED:
                    copied_bytes += size
                    progress.item_done(f"copied {name} ({human_size(size)})", size)
                elif outcome == UNCHANGED:
                    progress.item_done(f"already there {name}")
                else:
                    progress.item_done(f"missing source {name}", style=self.style.WARNING)
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. Run the same command again to finish: copied files will be skipped.", returncode=130
            ) from None
        finally:
            progress.close()
        self.report(results, failed, copied_bytes, clock)

    def plan(
        self, fields: list[tuple[type[models.Model], models.FileField]], default: Storage, alias: str
    ) -> list[Item]:
        """Each referenced name with the storage its field reads it from (once per name and storage)."""
        items: dict[tuple[str, int], Item] = {}
        self.field_lines = []
        for model, field in fields:
            destination = destination_storage(field, default)
            label = storage_label(destination, alias if destination is default else f"{field.name}.storage")
            self.field_lines.append(f"  {model._meta.label}.{field.name} -> {label}")
            for name in referenced_names(model, field):
                items.setdefault((name, id(destination)), (name, destination))
        return sorted(items.values(), key=lambda item: item[0])

    def report(self, results: dict[str, list[str]], failed: list[tuple[str, str]], copied: int, clock: Any) -> None:
        missing = sorted(results[MISSING])
        if missing:
            self.stdout.write(f"{len(missing)} referenced file(s) do not exist in the source storage:")
            for name in missing:
                self.stdout.write(f"  missing: {name}")
        summary = (
            f"Copied {len(results[COPIED])} file(s) ({human_size(copied)}), "
            f"{len(results[UNCHANGED])} already there, {len(missing)} missing, {len(failed)} failed in {clock}."
        )
        if failed:
            self.stdout.write(summary, style_func=self.style.ERROR)
            for name, reason in sorted(failed):
                self.stderr.write(f"  failed: {name}: {reason}")
            raise CommandError(f"{len(failed)} file(s) could not be copied; run the command again to retry.")
        self.stdout.write(summary, style_func=self.style.SUCCESS)

    def migrate(self, item: Item) -> tuple[str, int]:
        """Copy one file unless the destination already has an identical copy."""
        name, destination = item
        try:
            expected = storage_fingerprint(self.source, name)
        except FileNotFoundError:
            return MISSING, 0
        try:
            existing: Fingerprint | None = storage_fingerprint(destination, name)
        except FileNotFoundError:
            existing = None
        if existing == expected:
            return UNCHANGED, expected.size
        with self.source.open(name, "rb") as fh:
            save_exactly(destination, name, fh)
        copied = storage_fingerprint(destination, name)
        if copied != expected:
            destination.delete(name)
            raise CommandError(
                f"verification failed: source has {expected.size} bytes sha256 {expected.sha256[:12]}…, "
                f"copy has {copied.size} bytes sha256 {copied.sha256[:12]}…"
            )
        return COPIED, expected.size
