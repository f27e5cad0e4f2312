"""Django storages for BlueKing bk-repo generic repositories.

``BKRepoStorage`` reads its repository from ``BKREPO_BUCKET``,
``BKRepoPublicStorage`` from ``BKREPO_PUBLIC_BUCKET`` and
``BKRepoPrivateStorage`` from ``BKREPO_PRIVATE_BUCKET``; otherwise they are the
same class. Every option is a keyword argument (so ``STORAGES`` ``OPTIONS``
work) falling back to a class attribute, the Django setting, then the
environment variable of the same name, then the documented default (see
``bkstorages.conf``), resolved at first use.

``BKGenericRepoClient`` is importable from here too, as in bkstorages 3.x.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterator
from typing import IO, Any

from django.core.exceptions import SuspiciousFileOperation

from bkstorages import conf
from bkstorages.backends.base import ObjectStat, RemoteStorage, resolved
from bkstorages.client import BKGenericRepoClient, ObjectReader, metadata_headers
from bkstorages.client.repo import check_name_length
from bkstorages.exceptions import NameTooLongError, ObjectIsFolderError, ObjectNotFoundError
from bkstorages.files import RemoteFile
from bkstorages.sources import UploadSource

__all__ = ["BKGenericRepoClient", "BKRepoFile", "BKRepoPrivateStorage", "BKRepoPublicStorage", "BKRepoStorage"]

_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$")
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")


def parse_zone(text: str | None) -> datetime.tzinfo | None:
    """A zone from bk-repo's ``X-BKREPO-Time-Zone`` header (``+0800``, ``UTC``, ``Asia/Shanghai``)."""
    if not text:
        return None
    text = text.strip()
    if text.upper() in ("Z", "UTC", "GMT"):
        return datetime.timezone.utc
    match = _OFFSET.match(text)
    if match:
        sign = 1 if match.group(1) == "+" else -1
        return datetime.timezone(sign * datetime.timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return zoneinfo.ZoneInfo(text)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None


def parse_datetime(value: Any, zone: datetime.tzinfo) -> datetime.datetime | None:
    """An aware datetime from bk-repo's ISO local time (``2020-07-27T16:02:31.394``) in ``zone``."""
    if not isinstance(value, str) or not value:
        return None
    match = _DATETIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
    fraction = (match.group(7) or "0")[:6].ljust(6, "0")
    moment = datetime.datetime(year, month, day, hour, minute, second, int(fraction))
    offset = match.group(8)
    if offset:
        explicit = parse_zone(offset)
        if explicit is not None:
            return moment.replace(tzinfo=explicit)
    return moment.replace(tzinfo=zone)


class BKRepoStorage(RemoteStorage):
    """Django storage on a bk-repo generic repository (``BKREPO_BUCKET``).

    Whether the repository is public is asked once (repository info) and
    remembered, unless given with ``public=`` / ``BKREPO_BUCKET_PUBLIC``.
    """

    #: The Django setting (and environment variable) naming the repository; a tuple tries each in turn.
    bucket_setting: str | tuple[str, ...] = "BKREPO_BUCKET"
    # The 3.x constructor's positional order.
    positional_options = ("root_path", "username", "password", "project_id", "bucket", "endpoint_url", "file_overwrite")

    endpoint_url = resolved[str]()
    project = resolved[str]()
    bucket = resolved[str]()
    username = resolved[str | None]()
    public_base_url = resolved[str | None]()
    temporary_url_host = resolved[str | None]()
    client = resolved[BKGenericRepoClient]()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Keep the given options; everything else is resolved at first use (no I/O, no settings read here)."""
        if len(args) > len(self.positional_options):
            raise TypeError(f"{type(self).__name__} takes at most {len(self.positional_options)} positional arguments")
        for option, value in zip(self.positional_options, args, strict=False):
            if option in kwargs:
                raise TypeError(f"{type(self).__name__} got '{option}' twice")
            kwargs[option] = value
        # Mistakes in the keywords themselves (unknown names, wrong types) need no settings: say so now.
        _given, problems = conf.keyword_problems(type(self), kwargs)
        conf.raise_for(problems, type(self).__name__)
        self._options = kwargs
        super().__init__()

    def _resolve_attributes_now(self) -> dict[str, Any]:
        resolution = conf.resolve(type(self), self._options)
        conf.raise_for(resolution.problems, type(self).__name__)
        values = resolution.values
        client = BKGenericRepoClient(
            bucket=values["bucket"],
            project=values["project"],
            endpoint_url=values["endpoint_url"],
            username=values["username"],
            password=values["password"],
            public=values["public"],
            spool_dir=conf.file_upload_temp_dir(),
            **{name: values[name] for name in conf.CLIENT_OPTIONS},
        )
        namespace = "\0".join(
            [
                values["endpoint_url"],
                values["project"],
                values["bucket"],
                # The cache holds links as bk-repo signs them; preview=true is added per call.
                "signed",
                str(values["temporary_url_host"]),
            ]
        )
        return {
            **self._common_attributes(values, url_cache_namespace=namespace),
            "endpoint_url": values["endpoint_url"],
            "project": values["project"],
            "bucket": values["bucket"],
            "username": values["username"],
            "public_base_url": values["public_base_url"],
            "temporary_url_host": values["temporary_url_host"],
            "client": client,
        }

    def __repr__(self) -> str:
        if not self.options_resolved:
            # Resolving here could raise; a repr never does.
            return f"<{type(self).__name__} (options resolved at first use)>"
        return f"<{type(self).__name__} {self.endpoint_url} project={self.project} bucket={self.bucket}>"

    # 3.x names
    @property
    def root_path(self) -> str:
        return self.location

    @property
    def project_id(self) -> str:
        return self.project

    def _key(self, relative: str) -> str:
        """The full key, refused (``SuspiciousFileOperation``) when too long for a bk-repo request line."""
        key = super()._key(relative)
        try:
            check_name_length(key)
        except NameTooLongError as error:
            raise SuspiciousFileOperation(str(error)) from None
        return key

    # -- the store ------------------------------------------------------------------

    def _store_upload(self, key: str, source: UploadSource, *, overwrite: bool, metadata: dict[str, str]) -> None:
        (self._resolved or self._resolve()).client.upload(key, source, overwrite=overwrite, metadata=metadata)

    def _store_check_metadata(self, metadata: dict[str, str]) -> None:
        metadata_headers(metadata)

    def _store_metadata(self, key: str) -> dict[str, str]:
        return self.client.node_metadata(key)

    def _store_reader(self, key: str, start: int) -> ObjectReader:
        return self.client.open_reader(key, start)

    def _store_download(self, key: str, fileobj: IO[bytes]) -> None:
        self.client.download_to(key, fileobj)

    def _store_exists(self, key: str) -> bool:
        return (self._resolved or self._resolve()).client.exists(key)

    def _store_delete(self, key: str) -> None:
        self.client.delete(key)

    def _store_size(self, key: str) -> int:
        response = self.client.head(key)  # a folder raises ObjectIsFolderError
        length = response.headers.get("Content-Length")
        if length is None:
            stat = self._store_stat(key)
            if stat.is_dir:
                raise ObjectIsFolderError(f"{key!r} is a folder, not a file", path=key)
            return stat.size
        return int(length)

    def _store_stat(self, key: str) -> ObjectStat:
        answer = self.client.node_detail(key)
        data = answer.data
        if not isinstance(data, dict):
            raise ObjectNotFoundError(f"no node at {key!r}", path=key)
        zone = parse_zone(answer.zone) or zoneinfo.ZoneInfo(self.time_zone)
        return ObjectStat(
            name=key,
            size=int(data.get("size") or 0),
            sha256=data.get("sha256"),
            md5=data.get("md5"),
            modified_time=parse_datetime(data.get("lastModifiedDate"), zone),
            created_time=parse_datetime(data.get("createdDate"), zone),
            accessed_time=parse_datetime(data.get("lastAccessDate"), zone),
            is_dir=bool(data.get("folder")),
        )

    def _store_list(self, key: str) -> Iterator[tuple[str, bool]]:
        for record in self.client.iter_children(key):
            yield str(record["name"]), bool(record.get("folder"))

    def _store_walk(self, key: str) -> Iterator[ObjectStat]:
        skip = len(self.location) + 2 if self.location else 1  # "/" + location + "/"
        for record, zone_name in self.client.iter_files(key):
            if record.get("folder"):
                continue
            zone = parse_zone(zone_name) or zoneinfo.ZoneInfo(self.time_zone)
            yield ObjectStat(
                name=str(record["fullPath"])[skip:],
                size=int(record.get("size") or 0),
                sha256=record.get("sha256"),
                md5=record.get("md5"),
                modified_time=parse_datetime(record.get("lastModifiedDate"), zone),
                created_time=parse_datetime(record.get("createdDate"), zone),
                is_dir=False,
            )

    def _store_copy(self, source: str, target: str, *, overwrite: bool, move: bool) -> None:
        self.client.copy_node(source, target, overwrite=overwrite, move=move)

    def _store_delete_folder(self, key: str) -> None:
        self.client.delete_tree(key)

    def _store_is_public(self) -> bool:
        return (self._resolved or self._resolve()).client.is_public

    def _inline(self, download: bool | None) -> bool:
        """bk-repo sends files as attachments unless the link says ``preview=true``."""
        return (self._resolved or self._resolve()).url_preview if download is None else not download

    def _store_public_url(self, key: str, *, download: bool | None) -> str:
        options = self._resolved or self._resolve()
        return options.client.public_url(key, preview=self._inline(download), base_url=options.public_base_url)

    def _store_signed_urls(self, keys: list[str], expire: int) -> dict[str, str]:
        return self.client.create_temporary_urls(keys, expire, host=self.temporary_url_host)

    def _store_link(self, url: str, *, download: bool | None) -> str:
        if not self._inline(download):
            return url
        return f"{url}&preview=true" if "?" in url else f"{url}?preview=true"

    def _store_upload_url(self, key: str, expire: int, permits: int | None) -> str:
        urls = self.client.create_temporary_urls(
            [key],
            expire,
            host=self.temporary_url_host,
            token_type="UPLOAD",  # noqa: S106 - a token type, not a secret
            permits=permits,
        )
        return urls[key]


class BKRepoPublicStorage(BKRepoStorage):
    """A public repository (``BKREPO_PUBLIC_BUCKET``): permanent URLs, built without a request."""

    bucket_setting: str | tuple[str, ...] = "BKREPO_PUBLIC_BUCKET"


class BKRepoPrivateStorage(BKRepoStorage):
    """A private repository (``BKREPO_PRIVATE_BUCKET``): signed URLs that expire."""

    bucket_setting: str | tuple[str, ...] = "BKREPO_PRIVATE_BUCKET"


# The 3.x name of the file class.
BKRepoFile = RemoteFile
