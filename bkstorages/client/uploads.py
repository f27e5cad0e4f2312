"""Uploads: one streaming PUT, block upload for large sources, and checking what was stored.

Waiting and giving up are the client's :class:`RetryPolicy`'s; the loops here
say only what is specific to uploads: a body bk-repo refused as changed on
the way (251003) is sent again, and after a lost answer to a PUT without
overwrite the stored object is looked at before sending again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import Any
from urllib.parse import quote

from bkstorages.client.errors import CODE_DIGEST_CHECK_FAILED, CODE_NODE_EXISTED, CODE_UPLOAD_ID_NOT_FOUND
from bkstorages.client.repo import MAX_ENCODED_NAME, RepoAPI, encode_path
from bkstorages.client.transport import Answer, Deadline
from bkstorages.exceptions import (
    BKStorageError,
    IntegrityError,
    InvalidResponseError,
    ObjectAlreadyExists,
    ObjectIsFolderError,
    ObjectNotFoundError,
    RequestError,
    ServerError,
    TransportError,
)
from bkstorages.sources import UploadSource

logger = logging.getLogger(__name__)

SMALL_BODY = 64 * 1024  # uploads this small are sent as one piece of bytes

Part = tuple[int, int, int]  # (sequence number, offset, length) of a block upload part

#: An RFC 9110 token: what the part of a header name after ``X-BKREPO-META-`` may be.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Control characters (C0, DEL, C1): no header or metadata value carries them intact.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Printable ASCII: all bk-repo can send back in a ``Cache-Control`` header.
_VISIBLE = re.compile(r"[\x20-\x7e]*")
#: Characters sent as they are in a metadata value; everything else is percent-encoded
#: (bk-repo decodes values with Spring's ``UriUtils.decode``, as UTF-8).
_VALUE_SAFE = "!#$&'()*+,/:;<=>?@[]^_`{|}~-."
#: Request heads above 8 KiB are refused by bk-repo's Tomcat; metadata gets at most this much.
MAX_METADATA_BYTES = 4096


def _header_bytes(headers: Mapping[str, str]) -> int:
    return sum(len(name) + len(value) + 4 for name, value in headers.items())


def metadata_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    """``X-BKREPO-META-{key}`` headers for ``metadata``; ValueError for what bk-repo cannot store as given.

    bk-repo stores each key trimmed and lower-cased (``ArtifactMetadataHeaderResolver``),
    so keys must be header-name tokens that differ in more than case; values are
    strings without control characters (any other text is carried percent-encoded as
    UTF-8). ``Cache-Control`` comes back as a response header, so its value must be
    printable ASCII.
    """
    headers: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise ValueError(f"metadata key {key!r} is not a header name token (letters, digits, !#$%&'*+.^_`|~-)")
        if key.lower() in seen:
            first = seen[key.lower()]
            raise ValueError(f"metadata keys {first!r} and {key!r} differ only in case; bk-repo lower-cases keys")
        seen[key.lower()] = key
        if not isinstance(value, str):
            raise ValueError(f"metadata value of {key!r} must be a string, not {type(value).__name__}")
        if _CONTROL.search(value):
            raise ValueError(f"metadata value of {key!r} contains a control character (CR, LF, ...)")
        if key.lower() == "cache-control" and not _VISIBLE.fullmatch(value):
            raise ValueError(f"Cache-Control {value!r} must be printable ASCII: bk-repo sends it back as a header")
        headers[f"X-BKREPO-META-{key}"] = quote(value, safe=_VALUE_SAFE)
    size = _header_bytes(headers)
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata takes {size} bytes of request headers; at most {MAX_METADATA_BYTES} are sent")
    return headers


class _CompleteFailed(Exception):
    """Internal: a block upload's complete had no clear outcome; ``error`` is what it raised."""

    def __init__(self, error: BKStorageError) -> None:
        super().__init__(str(error))
        self.error = error


class _StreamBody:
    """A request body streamed from an :class:`UploadSource` range, hashed on the way out if ``hashed``."""

    def __init__(self, source: UploadSource, offset: int, length: int, *, hashed: bool = True) -> None:
        self.source = source
        self.offset = offset
        self.length = length
        # None when the sha256 was declared to the server, which checks it itself.
        self.hasher = hashlib.sha256() if hashed else None
        self.sent = 0

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.source.sending(self.offset, self.length):
            if self.hasher is not None:
                self.hasher.update(chunk)
            self.sent += len(chunk)
            yield chunk


class _Put:
    """The headers and bodies (one per attempt) of one streaming PUT, and the sha256 of what was sent."""

    def __init__(self, source: UploadSource, overwrite: bool, headers: Mapping[str, str] | None) -> None:
        self.source = source
        self.headers = {"X-BKREPO-OVERWRITE": "true" if overwrite else "false", **(headers or {})}
        if source.sha256:
            self.headers["X-BKREPO-SHA256"] = source.sha256
        # A declared sha256 is checked by the server against the body it receives
        # (251003 otherwise); an undeclared one is computed on the way out and
        # compared with what the server reports.
        self.declared = self.headers.get("X-BKREPO-SHA256")
        self.last: _StreamBody | None = None

    def body(self) -> Any:
        source = self.source
        if source.size == 0:
            return b""
        self.last = _StreamBody(source, 0, source.size, hashed=not self.declared)
        if source.size <= SMALL_BODY:
            # As bytes, http.client sends the head and the body in one write.
            return b"".join(self.last)
        return self.last

    def sent_sha256(self) -> str:
        if self.declared:
            return self.declared
        hasher = self.last.hasher if self.last is not None else hashlib.sha256(b"")
        assert hasher is not None  # undeclared bodies are hashed
        return hasher.hexdigest()


class Uploads(RepoAPI):
    """Uploading objects: :meth:`upload` picks a streaming PUT or block upload."""

    block_upload_threshold: int
    block_size: int

    def upload(
        self,
        key: str,
        source: UploadSource,
        *,
        overwrite: bool,
        headers: Mapping[str, str] | None = None,
        deadline: Deadline | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Upload ``source`` to ``key``; returns what is known of the stored node.

        ``metadata`` is stored with the node (:func:`metadata_headers`; ValueError
        before any request for what bk-repo cannot carry).

        Large sources (above ``block_upload_threshold``) use block upload.
        With ``overwrite=False`` an existing node raises ObjectAlreadyExists.
        The stored sha256 is checked against the bytes sent.
        A single PUT larger than one block gets one deadline per block's worth
        of bytes, so it may move as slowly as a block upload may.
        """
        if metadata:
            extra = metadata_headers(metadata)
            # bk-repo's Tomcat takes 8 KiB of request line and headers together.
            if len(encode_path(key)) + _header_bytes(extra) > MAX_ENCODED_NAME:
                raise ValueError(f"the name {key!r} and its metadata do not fit one bk-repo request head")
            headers = {**extra, **(headers or {})}
        if deadline is None:
            blocks = max(1, -(-source.size // self.block_size))
            deadline = Deadline(None if self.deadline is None else self.deadline * blocks)
        if source.size > self.block_upload_threshold:
            return self._block_upload(key, source, overwrite=overwrite, headers=headers, deadline=deadline)
        return self._put(key, source, overwrite=overwrite, headers=headers, deadline=deadline)

    def _put(
        self, key: str, source: UploadSource, *, overwrite: bool, headers: Mapping[str, str] | None, deadline: Deadline
    ) -> dict[str, Any]:
        """One streaming PUT, sent again while the retry policy allows when its answer is lost or refused."""
        put = _Put(source, overwrite, headers)
        policy = self.retry_policy
        lost_before = False
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.request(
                    "PUT",
                    self.generic_route(key),
                    headers=put.headers,
                    body=put.body,
                    expect_json=True,
                    idempotent=overwrite,
                    deadline=deadline,
                )
            except (TransportError, ServerError, InvalidResponseError) as error:
                if overwrite or not self._answer_was_lost(error):
                    raise
                wait = policy.wait_before(attempt, deadline)
                if wait is None:
                    raise
                # A PUT without overwrite may have landed before its answer was lost.
                lost_before = True
                node = self._stored_copy(key, source, deadline)
                if node is not None:
                    return node
                time.sleep(wait)
                continue
            except ObjectAlreadyExists:
                node = self._stored_copy(key, source, deadline) if lost_before else None
                if node is None:
                    raise
                return node
            except IntegrityError as error:
                # The body arrived changed and bk-repo refused it (stored nothing): send it again.
                if error.code != CODE_DIGEST_CHECK_FAILED or policy.gives_up(attempt, deadline):
                    raise
                logger.warning("bk-repo received different bytes than were sent for %s; sending them again", key)
                continue
            node = self._checked_node(key, source, put, answer)
            if node is not None:
                return node
            if overwrite and not policy.gives_up(attempt, deadline):
                continue  # overwriting again is safe
            if not overwrite:
                self.delete(key)  # a new object holding the wrong bytes: ours to remove
            raise IntegrityError(
                "bk-repo stored different bytes than were sent (sha256 mismatch)",
                method="PUT",
                path=self.generic_route(key),
            )

    def _answer_was_lost(self, error: BKStorageError) -> bool:
        """No clear answer (not a plain refusal): the upload may or may not have been stored."""
        status = error.status or 0
        return not isinstance(error, InvalidResponseError) or status < 400 or self.retry_policy.is_retry(status)

    @staticmethod
    def _checked_node(key: str, source: UploadSource, put: _Put, answer: Answer) -> dict[str, Any] | None:
        """The stored node when its sha256 matches the bytes sent (or is not reported); else None."""
        data = answer.data if isinstance(answer.data, dict) else {}
        stored = str(data.get("sha256") or answer.response.headers.get("X-Checksum-Sha256") or "").lower()
        sent = put.sent_sha256()
        if put.declared or not stored or stored == sent:
            if source.sha256 is None:
                source.sha256 = sent
            return data
        logger.warning("bk-repo stored different bytes than were sent for %s (sha256 mismatch)", key)
        return None

    def _stored_copy(self, key: str, source: UploadSource, deadline: Deadline) -> dict[str, Any] | None:
        """If ``key`` holds exactly ``source`` (by sha256) return its detail; None when absent.

        Raises ObjectAlreadyExists when it holds something else.
        """
        found = self._stored_sha256(key, source, deadline)
        if found is None:
            return None
        if found == source.sha256:
            return self._ours(key, source)
        raise ObjectAlreadyExists("the name is taken by other content", CODE_NODE_EXISTED, path=self.generic_route(key))

    def _stored_sha256(self, key: str, source: UploadSource, deadline: Deadline) -> str | None:
        """The sha256 ``key`` holds now ("" if not reported), None when absent; ``source.sha256`` is known after."""
        try:
            response = self.head(key, deadline=deadline)
        except ObjectNotFoundError:
            return None
        except ObjectIsFolderError as error:
            path = self.generic_route(key)
            raise ObjectAlreadyExists("the name is taken by a folder", CODE_NODE_EXISTED, path=path) from error
        if source.sha256 is None:
            source.sha256 = source.compute_sha256()
        stored = (response.headers.get("X-Checksum-Sha256") or response.headers.get("ETag") or "").strip('"').lower()
        if not stored:
            # Deployments that redirect downloads answer HEAD without checksums: node detail has the sha256.
            detail = self.node_detail(key).data
            stored = str(detail.get("sha256") or "").lower() if isinstance(detail, dict) else ""
        return stored

    @staticmethod
    def _ours(key: str, source: UploadSource) -> dict[str, Any]:
        logger.info("an earlier attempt stored %s already (same sha256)", key)
        return {"fullPath": "/" + key, "size": source.size, "sha256": source.sha256}

    # -- block upload -------------------------------------------------------------

    def _block_upload(
        self,
        key: str,
        source: UploadSource,
        *,
        overwrite: bool,
        headers: Mapping[str, str] | None,
        deadline: Deadline,
    ) -> dict[str, Any]:
        """A block upload; started again (while the retry policy allows) when its complete was lost or failed.

        After such a complete the stored object decides: this upload's bytes
        (by sha256) -> done; absent, or another object that may be
        overwritten -> start again; another object without overwrite ->
        ObjectAlreadyExists. (A server restarted during the merge forgets the
        upload id: its later answer is 251201 although nothing was merged.)
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._block_upload_once(key, source, overwrite=overwrite, headers=headers, deadline=deadline)
            except _CompleteFailed as failed:
                found = self._stored_sha256(key, source, self.new_deadline())
                if found is not None and found == source.sha256:
                    return self._ours(key, source)
                if found is not None and not overwrite:
                    raise ObjectAlreadyExists(
                        "the name is taken by other content", CODE_NODE_EXISTED, path=self.generic_route(key)
                    ) from failed.error
                if self.retry_policy.gives_up(attempt, deadline):
                    raise failed.error from None
                logger.warning("the block upload of %s did not complete (%s); starting it again", key, failed.error)

    def _block_upload_once(
        self,
        key: str,
        source: UploadSource,
        *,
        overwrite: bool,
        headers: Mapping[str, str] | None,
        deadline: Deadline,
    ) -> dict[str, Any]:
        route = self.block_route(key)
        flag = "true" if overwrite else "false"
        answer = self.request(
            "POST",
            route,
            headers={"X-BKREPO-OVERWRITE": flag},
            expect_json=True,
            idempotent=True,  # a second upload id is harmless
            deadline=deadline,
        )
        upload_id = str((answer.data or {}).get("uploadId") or "")
        if not upload_id:
            raise InvalidResponseError("block upload start returned no uploadId", method="POST", path=route)
        parts = [
            (number, offset, min(self.block_size, source.size - offset))
            for number, offset in enumerate(range(0, source.size, self.block_size), start=1)
        ]
        try:
            # Each part, and the steps after them, get a deadline of their own: a large
            # file on a slow link may take longer than one deadline as long as it moves.
            hashes = self._upload_parts(key, upload_id, source, parts)
            self._verify_parts(key, upload_id, source, parts, hashes)
        except BaseException:
            self._abort_block_upload(route, upload_id)
            raise
        complete_headers = {"X-BKREPO-UPLOAD-ID": upload_id, "X-BKREPO-OVERWRITE": flag, **(headers or {})}
        return self._complete_block_upload(key, source, upload_id, complete_headers)

    def _complete_block_upload(
        self, key: str, source: UploadSource, upload_id: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        """Merge the parts. Raises :class:`_CompleteFailed` when the outcome is unknown (after an abort)."""
        route = self.block_route(key)
        try:
            self.request("PUT", route, headers=headers, expect_json=True, idempotent=True, deadline=self.new_deadline())
        except RequestError as error:
            if error.code == CODE_UPLOAD_ID_NOT_FOUND:
                # Merged by an earlier attempt whose answer was lost, or forgotten by the server.
                raise _CompleteFailed(error) from error
            self._abort_block_upload(route, upload_id)
            if isinstance(error, (ServerError, InvalidResponseError)):
                raise _CompleteFailed(error) from error
            raise
        except TransportError as error:
            self._abort_block_upload(route, upload_id)
            raise _CompleteFailed(error) from error
        except BaseException:
            self._abort_block_upload(route, upload_id)
            raise
        # Every part was checked against its sha256 before the merge; a HEAD now
        # could see another writer's newer object, so the merge is not re-checked.
        return {"fullPath": "/" + key, "size": source.size, "sha256": source.sha256}

    def _upload_parts(self, key: str, upload_id: str, source: UploadSource, parts: list[Part]) -> dict[int, str]:
        """Send parts in parallel (each with its own deadline); the first failure cancels the rest."""
        pool = self._pool()
        futures: list[Future[tuple[int, str]]] = [
            pool.submit(self._upload_part, key, upload_id, source, part) for part in parts
        ]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failures = [future.exception() for future in done if future.exception() is not None]
        if failures:
            for future in pending:
                future.cancel()
            wait(pending)  # parts already on their way finish (or fail) before the abort
            error = failures[0]
            assert error is not None
            raise error
        return dict(future.result() for future in futures)

    def _upload_part(self, key: str, upload_id: str, source: UploadSource, part: Part) -> tuple[int, str]:
        """Send one part (retried by the request's policy); returns its number and sha256."""
        number, offset, length = part
        bodies: list[_StreamBody] = []

        def make_body() -> _StreamBody:
            bodies.append(_StreamBody(source, offset, length))
            return bodies[-1]

        self.request(
            "PUT",
            self.generic_route(key),
            headers={
                "X-BKREPO-UPLOAD-ID": upload_id,
                "X-BKREPO-SEQUENCE": str(number),
                # Replace a part an earlier attempt left behind.
                "X-BKREPO-OVERWRITE": "true",
            },
            body=make_body,
            expect_json=True,
            idempotent=True,
            deadline=self.new_deadline(),
        )
        hasher = bodies[-1].hasher
        assert hasher is not None  # parts are always hashed
        return number, hasher.hexdigest()

    def _verify_parts(
        self, key: str, upload_id: str, source: UploadSource, parts: list[Part], hashes: dict[int, str]
    ) -> None:
        """Compare the server's list of parts with what was sent; resend a part that differs, once."""
        bad = self._parts_held_differently(key, upload_id, parts, hashes)
        if not bad:
            return
        logger.warning("resending %d block part(s) of %s that the server holds differently", len(bad), key)
        hashes.update(self._upload_parts(key, upload_id, source, bad))
        still_bad = self._parts_held_differently(key, upload_id, parts, hashes)
        if still_bad:
            raise IntegrityError(f"block part {still_bad[0][0]} was not stored correctly", path=self.block_route(key))

    def _parts_held_differently(
        self, key: str, upload_id: str, parts: list[Part], hashes: dict[int, str]
    ) -> list[Part]:
        """The parts that the server's part list is missing or holds with another size or sha256."""
        answer = self.request(
            "GET",
            self.block_route(key),
            headers={"X-BKREPO-UPLOAD-ID": upload_id},
            expect_json=True,
            deadline=self.new_deadline(),
        )
        listed = {int(item["sequence"]): item for item in (answer.data or [])}
        return [
            part
            for part in parts
            if part[0] not in listed
            or int(listed[part[0]].get("size", -1)) != part[2]
            or str(listed[part[0]].get("sha256", "")).lower() != hashes[part[0]]
        ]

    def _abort_block_upload(self, route: str, upload_id: str) -> None:
        try:
            self.request(
                "DELETE",
                route,
                headers={"X-BKREPO-UPLOAD-ID": upload_id},
                expect_json=True,
                deadline=Deadline(min(self.deadline or 10.0, 10.0)),
            )
        except BKStorageError as error:
            logger.warning("could not abort block upload of %s: %s", route, error)
