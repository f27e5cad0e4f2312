"""The storage options: one record per option and the one table of them.

This module only describes the options (keyword, Django setting and
environment variable name, type, default, help); it reads nothing. Reading
settings and the environment, and resolving each option in its order of
precedence, happens in :mod:`bkstorages.conf` alone, which re-exports
everything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The client never imports Django, so it keeps the defaults of its own options;
# the table below takes them from there (one place for each number).
from bkstorages.client import DEFAULTS as _CLIENT_DEFAULTS

__all__ = ["CLIENT_OPTIONS", "OPTIONS", "OPTION_BY_NAME", "Option"]

MiB = 1024 * 1024

#: Where a value came from, in order of precedence.
KEYWORD = "keyword"
CLASS_ATTRIBUTE = "class attribute"
SETTING = "setting"
ENVIRONMENT = "environment"
DEFAULT = "default"


@dataclass(frozen=True)
class Option:
    """One storage option: its keyword, its setting/environment name and default.

    ``client`` options are passed to :class:`~bkstorages.client.BKGenericRepoClient` as they are.
    """

    name: str
    setting: str | None
    default: Any
    kind: str  # str | bool | float | int | optional_bool
    help: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    secret: bool = False
    client: bool = False


OPTIONS: tuple[Option, ...] = (
    Option(
        "endpoint_url",
        "BKREPO_ENDPOINT_URL",
        None,
        "str",
        "bk-repo gateway URL, e.g. https://bkrepo.example.com",
        required=True,
    ),
    Option(
        "username",
        "BKREPO_USERNAME",
        None,
        "str",
        "user for HTTP Basic auth (empty: anonymous, public reads only)",
    ),
    Option(
        "password",
        "BKREPO_PASSWORD",
        None,
        "str",
        "password for HTTP Basic auth; never logged or deconstructed",
        secret=True,
    ),
    Option(
        "project",
        "BKREPO_PROJECT",
        None,
        "str",
        "bk-repo project id",
        aliases=("project_id",),
        required=True,
    ),
    # The bucket's setting name depends on the class (``bucket_setting``): see CLASS_SETTINGS.
    Option(
        "bucket",
        None,
        None,
        "str",
        "repository name",
        required=True,
    ),
    # Whether the bucket is public is read from a setting named after the bucket's
    # (PUBLIC_SETTING_BY_BUCKET_SETTING), or implied by it (PUBLIC_BY_BUCKET_SETTING).
    Option(
        "public",
        None,
        None,
        "optional_bool",
        "whether the repository is public (default: ask bk-repo once)",
    ),
    Option(
        "location",
        "BKREPO_LOCATION",
        "",
        "str",
        "prefix (folder) inside the repository for every name",
        aliases=("root_path",),
    ),
    Option(
        "file_overwrite",
        "BKREPO_FILE_OVERWRITE",
        True,
        "bool",
        "replace files of the same name (False: Django picks a free name)",
    ),
    Option(
        "timeout",
        "BKREPO_TIMEOUT_THRESHOLD",
        None,
        "float",
        "3.x single timeout in seconds; the default of both timeouts below",
    ),
    Option(
        "connect_timeout",
        "BKREPO_CONNECT_TIMEOUT",
        _CLIENT_DEFAULTS["connect_timeout"],
        "float",
        "seconds to wait for a connection",
        client=True,
    ),
    Option(
        "read_timeout",
        "BKREPO_READ_TIMEOUT",
        _CLIENT_DEFAULTS["read_timeout"],
        "float",
        "seconds to wait for each read from the server",
        client=True,
    ),
    Option(
        "deadline",
        "BKREPO_DEADLINE",
        _CLIENT_DEFAULTS["deadline"],
        "float",
        "seconds an operation may take for its requests, retries and waits",
        client=True,
    ),
    Option(
        "max_retries",
        "BKREPO_MAX_RETRIES",
        _CLIENT_DEFAULTS["max_retries"],
        "int",
        "retries of a failed idempotent request",
        client=True,
    ),
    Option(
        "backoff",
        "BKREPO_RETRY_BACKOFF",
        _CLIENT_DEFAULTS["backoff"],
        "float",
        "first retry delay in seconds, doubled each retry, with jitter",
        client=True,
    ),
    Option(
        "url_expire_seconds",
        "BKREPO_URL_EXPIRE_SECONDS",
        3600,
        "int",
        "lifetime of signed URLs for private repositories",
    ),
    Option(
        "public_base_url",
        "BKREPO_PUBLIC_BASE_URL",
        None,
        "str",
        "base of public URLs (CDN / custom domain) instead of {endpoint}/generic/{project}/{bucket}",
    ),
    Option(
        "url_preview",
        "BKREPO_URL_PREVIEW",
        False,
        "bool",
        "add preview=true to URLs so browsers show files inline",
    ),
    Option(
        "temporary_url_host",
        "BKREPO_TEMPORARY_URL_HOST",
        None,
        "str",
        "host for signed URLs: the gateway root or its /generic root (default: bk-repo's generic domain)",
    ),
    Option(
        "url_cache_alias",
        "BKREPO_URL_CACHE_ALIAS",
        None,
        "str",
        "Django cache alias to share signed URLs between processes",
    ),
    Option(
        "url_cache_size",
        "BKREPO_URL_CACHE_SIZE",
        10000,
        "int",
        "signed URLs kept in memory per storage",
    ),
    Option(
        "block_upload_threshold",
        "BKREPO_BLOCK_UPLOAD_THRESHOLD",
        _CLIENT_DEFAULTS["block_upload_threshold"],
        "int",
        "files larger than this many bytes use block upload",
        client=True,
    ),
    Option(
        "block_size",
        "BKREPO_BLOCK_SIZE",
        _CLIENT_DEFAULTS["block_size"],
        "int",
        "part size of block uploads in bytes",
        client=True,
    ),
    Option(
        "block_upload_workers",
        "BKREPO_BLOCK_UPLOAD_WORKERS",
        _CLIENT_DEFAULTS["block_upload_workers"],
        "int",
        "parts uploaded in parallel",
        client=True,
    ),
    Option(
        "list_page_size",
        "BKREPO_LIST_PAGE_SIZE",
        _CLIENT_DEFAULTS["list_page_size"],
        "int",
        "entries per listing request",
        client=True,
    ),
    Option(
        "verify_downloads",
        "BKREPO_VERIFY_DOWNLOADS",
        _CLIENT_DEFAULTS["verify_downloads"],
        "bool",
        "check the sha256 of every whole download against the object's ETag",
        client=True,
    ),
    Option(
        "cache_control",
        "BKREPO_CACHE_CONTROL",
        None,
        "str",
        "Cache-Control stored with every saved file, which bk-repo then sends with it (default: no-cache)",
    ),
    Option(
        "object_metadata",
        "BKREPO_OBJECT_METADATA",
        None,
        "dict",
        "metadata stored with every saved file (X-BKREPO-META-* headers)",
    ),
    Option(
        "max_memory_size",
        "BKREPO_MAX_MEMORY_SIZE",
        8 * MiB,
        "int",
        "bytes a written file keeps in memory before spooling to disk",
    ),
    Option(
        "time_zone",
        "BKREPO_TIME_ZONE",
        "Asia/Shanghai",
        "str",
        "time zone of bk-repo dates when the server does not say",
    ),
)

OPTION_BY_NAME = {option.name: option for option in OPTIONS}
OPTION_NAMES = frozenset(OPTION_BY_NAME)
ALIASES = {alias: option.name for option in OPTIONS for alias in option.aliases}
#: The options the client takes as they are (derived from the table).
CLIENT_OPTIONS = tuple(option.name for option in OPTIONS if option.client)

# Settings that storage classes read instead of an option's own (``bucket_setting``,
# ``location_setting``), with the option whose rules they follow.
CLASS_SETTINGS = {
    "BKREPO_BUCKET": "bucket",
    "BKREPO_PUBLIC_BUCKET": "bucket",
    "BKREPO_PRIVATE_BUCKET": "bucket",
    "BKREPO_STATIC_BUCKET": "bucket",
    "BKREPO_STATIC_LOCATION": "location",
    "BKREPO_STATIC_CACHE_CONTROL": "cache_control",
    "BKREPO_BUCKET_PUBLIC": "public",
}
# Which buckets are public, by the first bucket setting of the class.
PUBLIC_BY_BUCKET_SETTING = {"BKREPO_PUBLIC_BUCKET": True, "BKREPO_PRIVATE_BUCKET": False}
# Only the plain bucket has a setting saying whether it is public.
PUBLIC_SETTING_BY_BUCKET_SETTING = {"BKREPO_BUCKET": "BKREPO_BUCKET_PUBLIC"}
# Django settings besides BKREPO_* that a resolution depends on.
OTHER_SETTINGS = frozenset({"FILE_UPLOAD_TEMP_DIR"})
