"""The block (multipart) upload service under ``/generic/block/{project}/{repo}/{path}``.

``POST`` starts an upload; each part is a ``PUT`` of the file's generic URL
with ``X-BKREPO-UPLOAD-ID`` and ``X-BKREPO-SEQUENCE``; ``PUT`` (and, as the
routes fall today, ``HEAD``) completes, ``DELETE`` aborts and ``GET`` lists
the parts received.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..accounts import READ, WRITE
from ..envelope import ApiError, envelope
from ..request import INT_MAX, Request
from ..responses import Response
from ..store import BlocksBroken, UploadNotFound
from .common import Context, check_digests, check_target, commit, overwrite, upload_options

INTEGER = re.compile(r"[+-]?[0-9]+")
NUMERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def start(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """Start an upload. Only without overwrite is the target checked here (an existing node is
    251012); with overwrite a folder in the way is found at complete (251013), as in bk-repo."""
    context.permit(request, WRITE, project, repo)
    if full_path == "/":
        raise ApiError(250105, "fullPath")
    if not overwrite(request):
        check_target(context, project, repo, full_path, False)
    upload_id = context.store.blocks.start(project, repo, full_path, request.user)
    expire_seconds = int(context.store.blocks.expire_seconds)
    return envelope(request, {"uploadId": upload_id, "expireSeconds": expire_seconds})


def list_parts(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    context.permit(request, READ, project, repo)
    with known_upload(request) as upload_id:
        parts = context.store.blocks.list_parts(upload_id)
    return envelope(request, [{"size": p.size, "sha256": p.sha256, "sequence": p.sequence} for p in parts])


def abort(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    context.permit(request, WRITE, project, repo)
    with known_upload(request) as upload_id:
        context.store.blocks.abort(upload_id)
    return envelope(request, None)


def complete(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """Merge parts 1..N into the file at ``full_path``."""
    context.permit(request, WRITE, project, repo)
    with known_upload(request) as upload_id:
        options = upload_options(request)
        if full_path == "/":
            raise ApiError(250105, "fullPath")
        try:
            received = context.store.blocks.merge(upload_id)
        except BlocksBroken:
            raise ApiError(251212) from None
        try:
            commit(context, project, repo, full_path, received, request.user, options)
        finally:
            context.store.blobs.discard(received)
    return envelope(request, None)


def part(context: Context, request: Request, upload_id: str, sequence_text: str) -> Response:
    """One part, sent to the file's generic URL (the generic ``PUT`` hands it here)."""
    sequence = parse_sequence(sequence_text)
    blocks = context.store.blocks
    if not blocks.exists(upload_id):
        raise ApiError(251201, upload_id)
    keep_new = overwrite(request)
    received = context.store.blobs.receive(request.body(), request.body_length())
    try:
        check_digests(request, received)
        blocks.store_part(upload_id, sequence, received, keep_new)
    except UploadNotFound:
        raise ApiError(251201, upload_id) from None
    finally:
        context.store.blobs.discard(received)
    return envelope(request, None)


def parse_sequence(text: str) -> int:
    """``X-BKREPO-SEQUENCE``: a number that is not a whole one fitting an Int (``1e23``, ``1.5``,
    ``99999999999``) is 400 ``250105``; text that is no number at all stays bk-repo's ``toInt()`` 500."""
    text = text.strip()
    if INTEGER.fullmatch(text) and len(text.lstrip("+-0")) <= len(str(INT_MAX)):
        sequence = int(text)
        if -INT_MAX - 1 <= sequence <= INT_MAX:
            return sequence
    if NUMERAL.fullmatch(text):
        raise ApiError(250105, "X-BKREPO-SEQUENCE")
    raise ApiError(250102)


@contextmanager
def known_upload(request: Request) -> Iterator[str]:
    """The ``X-BKREPO-UPLOAD-ID`` header (250118 without one); an unknown id is 251201."""
    upload_id = (request.header("X-BKREPO-UPLOAD-ID") or "").strip()
    if not upload_id:
        raise ApiError(250118, "X-BKREPO-UPLOAD-ID")
    try:
        yield upload_id
    except UploadNotFound:
        raise ApiError(251201, upload_id) from None
