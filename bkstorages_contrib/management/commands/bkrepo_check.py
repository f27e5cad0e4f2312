"""``manage.py bkrepo_check``: check that a bkstorages storage can really talk to bk-repo.

One line per check, in order: settings, endpoint, credentials, repository,
public/private, a write/read/delete probe and the probe's URL. The command
exits non-zero when any check fails. The password is never printed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bkstorages import exceptions
from bkstorages_contrib.management.transfer import describe_error, get_storage, storage_label

PROBE_FOLDER = ".bkrepo-check"
OK, FAIL, WARN, SKIP = "OK", "FAIL", "WARN", "SKIP"


class CheckFailed(Exception):
    """A check did not pass; the message says why."""


class CheckWarning(Exception):
    """A check passed with a caveat."""


class Skipped(Exception):
    """A check was not run; the message says why."""


@dataclass
class Outcome:
    status: str
    title: str
    detail: str


class Command(BaseCommand):
    help = (
        "Check settings and reachability of bk-repo storages: endpoint, credentials, project and bucket, "
        "public/private, a write/read/delete probe and its URL. Exits non-zero if a check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--storage",
            action="append",
            default=[],
            metavar="ALIAS",
            help="STORAGES alias to check (repeatable; default: default)",
        )
        parser.add_argument(
            "--read-only", action="store_true", help="skip the write/read/delete probe (nothing is written)"
        )
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the URL probe")

    def handle(self, *args: Any, **options: Any) -> None:
        aliases = options["storage"] or ["default"]
        self.read_only = bool(options["read_only"])
        self.timeout = float(options["timeout"])
        failures = 0
        for number, alias in enumerate(aliases):
            if number:
                self.stdout.write("")
            failures += self.check_alias(alias)
        if failures:
            raise CommandError(f"{failures} check(s) failed.")

    # ------------------------------------------------------------------

    def check_alias(self, alias: str) -> int:
        self.password = ""
        try:
            storage = get_storage(alias)
            # Storages resolve their settings at first use: this is it.
            client = getattr(storage, "client", None)
        except ImproperlyConfigured as exc:
            self.stdout.write(f"Checking storage {alias!r}")
            self.report(Outcome(FAIL, "settings", str(exc)))  # names settings, never their values
            self.stdout.write(self.style.ERROR(f"1 check(s) failed for {alias!r}."))
            return 1
        self.stdout.write(f"Checking storage {storage_label(storage, alias)}")
        if client is None or not hasattr(client, "repo_info"):
            self.report(Outcome(FAIL, "storage", "this is not a bkstorages storage (it has no bk-repo client)"))
            return 1
        self.password = client.password or ""
        state: dict[str, Any] = {"storage": storage, "client": client}
        steps: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
            ("settings", self.check_settings),
            ("endpoint", self.check_endpoint),
            ("credentials", self.check_credentials),
            ("repository", self.check_repository),
            ("visibility", self.check_visibility),
            ("write/read/delete", self.check_round_trip),
            ("url", self.check_url),
            ("cleanup", self.cleanup),
        ]
        failures = 0
        blocked = ""
        for title, step in steps:
            if blocked and title != "cleanup":
                self.report(Outcome(SKIP, title, f"skipped: {blocked}"))
                continue
            try:
                detail = step(state)
            except Skipped as exc:
                self.report(Outcome(SKIP, title, str(exc)))
            except CheckWarning as exc:
                self.report(Outcome(WARN, title, str(exc)))
            except CheckFailed as exc:
                failures += 1
                self.report(Outcome(FAIL, title, str(exc)))
                if title in {"settings", "endpoint", "credentials", "repository"}:
                    blocked = f"the {title} check failed"
            else:
                if detail:
                    self.report(Outcome(OK, title, detail))
        if failures:
            self.stdout.write(self.style.ERROR(f"{failures} check(s) failed for {alias!r}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"All checks passed for {alias!r}."))
        return failures

    def report(self, outcome: Outcome) -> None:
        style = {OK: self.style.SUCCESS, FAIL: self.style.ERROR, WARN: self.style.WARNING, SKIP: self.style.NOTICE}
        text = f"  [{outcome.status:^4}] {outcome.title}: {outcome.detail}"
        if self.password and len(self.password) >= 3:
            text = text.replace(self.password, "********")  # belt and braces: errors never contain it anyway
        self.stdout.write(style[outcome.status](text))

    # -- the checks -------------------------------------------------------------

    def check_settings(self, state: dict[str, Any]) -> str:
        client = state["client"]
        storage = state["storage"]
        missing = [name for name in ("endpoint_url", "project", "bucket") if not getattr(client, name, None)]
        if missing:
            raise CheckFailed(f"missing {', '.join(missing)}")
        location = getattr(storage, "location", "") or ""
        parts = [
            f"endpoint {shown_endpoint(client.endpoint_url)}",
            f"project {client.project!r}",
            f"bucket {client.bucket!r}",
            f"location {location!r}" if location else "",
            f"user {client.username!r}" if client.username else "no username",
            "password set" if client.password else "no password",
        ]
        return ", ".join(p for p in parts if p)

    def _repo_info(self, state: dict[str, Any]) -> dict[str, Any]:
        """Ask bk-repo about the repository once; every later check reads the answer or its error."""
        if "repo_info" not in state:
            try:
                state["repo_info"] = state["client"].repo_info()
            except Exception as exc:
                state["repo_info"] = exc
        info = state["repo_info"]
        if isinstance(info, Exception):
            raise info
        return dict(info)

    def check_endpoint(self, state: dict[str, Any]) -> str:
        endpoint = shown_endpoint(state["client"].endpoint_url)
        try:
            self._repo_info(state)
        except exceptions.TransportError as exc:
            raise CheckFailed(f"cannot reach {endpoint}: {describe_error(exc)}") from exc
        except exceptions.InvalidResponseError as exc:
            raise CheckFailed(
                f"{endpoint} answers, but not like bk-repo (is the URL the gateway root?): {describe_error(exc)}"
            ) from exc
        except exceptions.BKStorageError as exc:
            if exc.status is None:
                raise CheckFailed(describe_error(exc)) from exc
        return f"{endpoint} answers"

    def check_credentials(self, state: dict[str, Any]) -> str:
        client = state["client"]
        try:
            self._repo_info(state)
        except exceptions.AuthenticationError as exc:
            if not client.username:
                raise CheckFailed("bk-repo wants credentials: set BKREPO_USERNAME and BKREPO_PASSWORD") from exc
            raise CheckFailed(f"bk-repo refused the password of user {client.username!r}") from exc
        except exceptions.PermissionDeniedError as exc:
            raise CheckFailed(f"user {client.username!r} may not read this repository") from exc
        except exceptions.ObjectNotFoundError:
            # bk-repo looks the repository up before it checks credentials.
            raise Skipped("cannot tell: the repository does not exist") from None
        if not client.username:
            raise CheckWarning("no username: anonymous access only (reads of public buckets)")
        return f"user {client.username!r} accepted"

    def check_repository(self, state: dict[str, Any]) -> str:
        client = state["client"]
        try:
            info = self._repo_info(state)
        except exceptions.ObjectNotFoundError as exc:
            raise CheckFailed(
                f"project {client.project!r} has no generic repository {client.bucket!r} ({describe_error(exc)})"
            ) from exc
        except exceptions.BKStorageError as exc:
            raise CheckFailed(describe_error(exc)) from exc
        kind = info.get("type") or "GENERIC"
        return f"project {client.project!r} has {str(kind).lower()} repository {client.bucket!r}"

    def check_visibility(self, state: dict[str, Any]) -> str:
        info = self._repo_info(state)
        public = bool(info.get("public", False))
        state["public"] = public
        expected = expected_visibility(state["storage"])
        actual = "public" if public else "private"
        if expected is None:
            return f"the repository is {actual}"
        if expected != public:
            wanted = "public" if expected else "private"
            raise CheckFailed(
                f"the repository is {actual}, but {type(state['storage']).__name__} expects a {wanted} one"
            )
        return f"the repository is {actual}, as {type(state['storage']).__name__} expects"

    def check_round_trip(self, state: dict[str, Any]) -> str:
        if self.read_only:
            raise Skipped("--read-only")
        storage: Storage = state["storage"]
        content = f"bkrepo_check probe {uuid.uuid4().hex}\n".encode()
        wanted = f"{PROBE_FOLDER}/{uuid.uuid4().hex}.txt"
        try:
            name = storage.save(wanted, ContentFile(content))
        except Exception as exc:
            raise CheckFailed(f"cannot write {wanted}: {describe_error(exc)}") from exc
        state["probe"], state["probe_content"] = name, content
        try:
            with storage.open(name, "rb") as fh:
                read_back = fh.read()
        except Exception as exc:
            raise CheckFailed(f"wrote {name} but cannot read it: {describe_error(exc)}") from exc
        if read_back != content:
            raise CheckFailed(f"wrote {len(content)} bytes to {name} but read back {len(read_back)} different bytes")
        return f"wrote, read back and will delete {name}"

    def check_url(self, state: dict[str, Any]) -> str:
        storage: Storage = state["storage"]
        name = state.get("probe")
        if name is None:
            raise Skipped("needs the write probe")
        try:
            url = storage.url(name)
        except Exception as exc:
            raise CheckFailed(f"url() failed: {describe_error(exc)}") from exc
        shown = url.split("?", 1)[0] + ("?…" if "?" in url else "")  # never print a signed token
        try:
            response = requests.get(url, timeout=self.timeout)  # anonymously, as a browser would
        except requests.RequestException as exc:
            raise CheckFailed(f"cannot fetch {shown}: {type(exc).__name__}") from exc
        if response.status_code != 200 or response.content != state["probe_content"]:
            raise CheckFailed(f"{shown} answered HTTP {response.status_code} without the probe's content")
        return f"a browser can download it from {shown}"

    def cleanup(self, state: dict[str, Any]) -> str:
        name = state.get("probe")
        if name is None:
            return ""
        storage: Storage = state["storage"]
        try:
            storage.delete(name)
            still_there = storage.exists(name)
        except Exception as exc:
            raise CheckFailed(f"cannot delete {name}: {describe_error(exc)}") from exc
        if still_there:
            raise CheckFailed(f"{name} still exists after delete()")
        with contextlib.suppress(Exception):  # bk-repo keeps a folder that is not empty; that is fine
            storage.delete(PROBE_FOLDER)  # the folder too, when no other probe is running
        return f"deleted {name}"


def shown_endpoint(url: str) -> str:
    """The endpoint URL without any ``user:password@`` part (the system checks warn about those)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def expected_visibility(storage: Storage) -> bool | None:
    """True if the storage class needs a public repository, False for a private one, None if either will do."""
    from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage
    from bkstorages_contrib.staticfiles import BKRepoStaticStorage

    if isinstance(storage, (BKRepoPublicStorage, BKRepoStaticStorage)):
        return True
    if isinstance(storage, BKRepoPrivateStorage):
        return False
    return None
