"""The generic service: upload, download and delete of ``/generic/{project}/{repo}/{path}``.

A folder downloads as a zip (``?download=true``, and always by token) or
answers like bk-repo's browser view: a redirect to its ``/`` URL, then a
small HTML listing.
"""

from __future__ import annotations

import email.utils
import html
import mimetypes
import re
import shutil
import urllib.parse
import zipfile

from .. import shapes
from ..accounts import DELETE, DOWNLOAD, WRITE
from ..dates import iso_local
from ..envelope import ApiError, envelope
from ..request import LONG_MAX, Request
from ..responses import FileRange, Response, empty
from ..store import FolderNotEmpty, Node, NodeNotFound
from . import block
from .common import Context, check_digests, check_target, commit, generic_base, overwrite, upload_options

RANGE = re.compile(r"bytes=(\d+)?-(\d+)?")
#: bk-repo's limits for downloading a folder as a zip (251014 beyond them).
ZIP_MAX_FILES = 1024
ZIP_MAX_BYTES = 10 * 1024**3
#: Headers that carry the node's digests.
CHECKSUM_HEADERS = frozenset({"ETag", "X-Checksum-Md5", "X-Checksum-Sha256"})


def put(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """An upload, or one part of a block upload (``X-BKREPO-UPLOAD-ID`` and ``X-BKREPO-SEQUENCE``)."""
    upload_id = (request.header("X-BKREPO-UPLOAD-ID") or "").strip()
    sequence = request.header("X-BKREPO-SEQUENCE")
    context.permit(request, WRITE, project, repo)
    if upload_id and sequence is not None:
        return block.part(context, request, upload_id, sequence)
    return upload(context, request, project, repo, full_path, request.user)


def get(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    context.permit(request, DOWNLOAD, project, repo)
    return download(context, request, project, repo, full_path, token_route=False)


def delete(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    context.permit(request, DELETE, project, repo)
    try:
        context.store.delete_node(project, repo, full_path)
    except NodeNotFound:
        raise ApiError(251010, full_path) from None
    except FolderNotEmpty:
        raise ApiError(251009) from None
    return envelope(request, None)


def upload(context: Context, request: Request, project: str, repo: str, full_path: str, user: str) -> Response:
    """Receive the body and store it as ``full_path`` (also used by temporary upload URLs)."""
    # bk-repo's order: the exists check, then the body and its digests, then the node's options.
    check_target(context, project, repo, full_path, overwrite(request))
    received = context.store.blobs.receive(request.body(), request.body_length())
    try:
        check_digests(request, received)
        node = commit(context, project, repo, full_path, received, user, upload_options(request))
    finally:
        context.store.blobs.discard(received)
    request.response_headers = [("X-Checksum-Md5", node.md5 or ""), ("X-Checksum-Sha256", node.sha256 or "")]
    return envelope(request, shapes.node_detail(node, request.zone))


def download(
    context: Context, request: Request, project: str, repo: str, full_path: str, *, token_route: bool
) -> Response:
    """A file (ranges honoured), or a folder as a zip or listing (also used by temporary download URLs)."""
    opened = context.store.open_node(project, repo, full_path)
    if opened is None:
        node = context.store.get_node(project, repo, full_path)
        if node is not None and node.folder:
            if not token_route and not listing_allowed(context, project, repo):
                raise ApiError(251202, repo, full_path)
            if token_route or (request.param("download") or "").strip().lower() == "true":
                return folder_zip(context, request, project, repo, node)
            return folder_view(context, request, project, repo, node)
        if token_route:
            raise ApiError(251024)
        raise ApiError(251010, full_path)
    node, file = opened
    if context.redirect is not None and request.method == "GET":
        # Like CosRedirectService: GET only; the signed target serves the body and the Range.
        file.close()
        return empty(302, [("Location", context.redirect.sign_url(node, request)), ("Content-Length", "0")])
    try:
        start, length, partial = resolve_range(request, node.size)
    except ApiError:
        file.close()
        raise
    end = start + length - 1 if node.size else -1
    mime = mimetypes.guess_type(node.name, strict=False)[0] or "application/octet-stream"
    headers = [
        ("Content-Type", f"{mime};charset=utf-8"),
        ("Content-Length", str(length)),
        ("Accept-Ranges", "bytes"),
        ("Content-Range", f"bytes {start}-{end}/{node.size}"),
        ("Cache-Control", node.metadata.get("Cache-Control") or node.metadata.get("cache-control") or "no-cache"),
        ("ETag", node.sha256 or ""),
        ("Last-Modified", email.utils.formatdate(node.modified_ms / 1000, usegmt=True)),
        ("X-Checksum-Md5", node.md5 or ""),
        ("X-Checksum-Sha256", node.sha256 or ""),
    ]
    preview = (request.param("preview") or "").strip().lower() == "true"
    if not preview and repo != "report":  # bk-repo never sends it for a repo named "report"
        headers.append(attachment(node.name))
    status = 206 if partial else 200
    if request.method == "HEAD":
        file.close()
        if context.redirect is not None:
            # Deployments that redirect downloads answer HEAD without checksums (bkrepo-protocol.md 10.2).
            headers = [(name, value) for name, value in headers if name not in CHECKSUM_HEADERS]
        return empty(status, headers)
    return Response(status, headers, FileRange(file, start, length))


def listing_allowed(context: Context, project: str, repo: str) -> bool:
    """The repository's folder listing switch (bk-repo's ``autoIndex.enabled``)."""
    record = context.store.get_repo(project, repo)
    return record is None or record.list_folders


def attachment(name: str) -> tuple[str, str]:
    encoded = urllib.parse.quote(name, safe="-._~")
    return ("Content-Disposition", f"attachment;filename=\"{encoded}\";filename*=UTF-8''{encoded}")


def range_number(digits: str) -> int:
    """A number of a ``Range`` header; one too big for a Long (however many digits) is ``LONG_MAX + 1``."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= len(str(LONG_MAX)) else LONG_MAX + 1


def resolve_range(request: Request, total: int) -> tuple[int, int, bool]:
    """bk-repo's single-range rules: (start, length, partial)."""
    header = (request.header("Range") or "").strip()
    if not header:
        return 0, total, False
    match = RANGE.fullmatch(header)
    if match is None:
        raise ApiError(250120)
    first, last = match.group(1), match.group(2)
    if first is None and last is None:
        raise ApiError(250120)
    if first is None:
        assert last is not None
        suffix = range_number(last)
        if suffix > LONG_MAX:
            raise ApiError(250120)
        start, end = max(total - suffix, 0), total - 1
    else:
        start = range_number(first)
        end = total - 1 if last is None else range_number(last)
        if start > LONG_MAX or end > LONG_MAX:
            raise ApiError(250120)
        end = total - 1 if end < 0 else min(end, total - 1)
    length = end - start + 1
    if length < 0:
        raise ApiError(250120)
    return start, length, True


def folder_zip(context: Context, request: Request, project: str, repo: str, node: Node) -> Response:
    """A folder as a zip of its files (paths relative to it), like bk-repo's folder download."""
    store = context.store
    total, files = store.list_nodes(
        project,
        repo,
        node.full_path,
        deep=True,
        include_folder=False,
        offset=0,
        limit=ZIP_MAX_FILES + 1,
        order=[("full_path", True)],
    )
    if total > ZIP_MAX_FILES or sum(f.size for f in files) > ZIP_MAX_BYTES:
        raise ApiError(251014)
    archive = store.blobs.temp_file()
    try:
        prefix = node.full_path.rstrip("/") + "/"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as zipped:
            for child in files:
                opened = store.open_node(project, repo, child.full_path)
                if opened is None:
                    continue
                with (
                    opened[1] as source,
                    zipped.open(child.full_path[len(prefix) :], "w", force_zip64=True) as target,
                ):
                    shutil.copyfileobj(source, target, 1024 * 1024)
        size = archive.tell()
    except BaseException:
        archive.close()
        raise
    headers = [
        ("Content-Type", "application/zip"),
        ("Content-Length", str(size)),
        attachment((node.name or repo) + ".zip"),
        ("Cache-Control", "no-cache"),
    ]
    if request.method == "HEAD":
        archive.close()
        return empty(200, headers)
    return Response(200, headers, FileRange(archive, 0, size))


def folder_view(context: Context, request: Request, project: str, repo: str, node: Node) -> Response:
    """A folder answers like bk-repo: 302 to the ``/`` URL, then a small HTML listing.

    The ``Location`` is absolute, on the generic domain, without the query
    (``ViewModelService.trailingSlash``).
    """
    raw_path = str(request.environ.get("PATH_INFO", ""))
    if not raw_path.endswith("/"):
        below = raw_path[raw_path.find("/generic/") + len("/generic") :]
        location = generic_base(context, request) + urllib.parse.quote(below.encode("latin-1") + b"/", safe="/")
        return empty(302, [("Location", location), ("Content-Length", "0")])
    _total, children = context.store.list_nodes(
        project, repo, node.full_path, deep=False, include_folder=True, offset=0, limit=10_000, order=None
    )
    rows = "".join(
        f'<tr><td><a href="{urllib.parse.quote(child.name)}{"/" if child.folder else ""}">'
        f"{html.escape(child.name)}{'/' if child.folder else ''}</a></td>"
        f"<td>{html.escape(child.created_by)}</td><td>{iso_local(child.modified_ms, request.zone)}</td>"
        f"<td>{'-' if child.folder else child.size}</td><td>{child.sha256 or '-'}</td></tr>"
        for child in children
    )
    title = html.escape(f"/{project}/{repo}{node.full_path}")
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><table><tr><th>Name</th><th>Created by</th><th>Last modified</th><th>Size</th>"
        f"<th>Sha256</th></tr>{rows}</table></body></html>"
    ).encode()
    return Response(200, [("Content-Type", "text/html;charset=utf-8"), ("Content-Length", str(len(page)))], [page])
