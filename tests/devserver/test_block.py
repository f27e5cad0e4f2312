"""Block (multipart) upload: start, parts, list, complete, abort."""

from __future__ import annotations

import hashlib
import re

import requests

from tests.devserver.conftest import Api, assert_error, assert_ok


def block_url(api: Api, path: str) -> str:
    return f"{api.base}/generic/block/{api.project}/{api.repos.private}/{path}"


def start(api: Api, path: str, expected_expiry: int = 43200, **headers: str) -> str:
    data = assert_ok(api.request("POST", block_url(api, path), headers=headers))
    assert set(data) == {"uploadId", "expireSeconds"}
    assert data["expireSeconds"] == expected_expiry
    assert re.fullmatch(r"[0-9a-f]{32}", data["uploadId"])
    return str(data["uploadId"])


def part(api: Api, path: str, upload_id: str, sequence: int | str, data: bytes, **headers: str) -> requests.Response:
    headers = {"X-BKREPO-UPLOAD-ID": upload_id, "X-BKREPO-SEQUENCE": str(sequence), **headers}
    return api.put(path, data, headers=headers)


def test_block_upload_round_trip(api: Api) -> None:
    upload_id = start(api, "big/file.bin")
    chunks = [b"a" * 1000, b"b" * 1000, b"c" * 10]
    for sequence in (2, 1, 3):
        response = part(api, "big/file.bin", upload_id, sequence, chunks[sequence - 1])
        assert assert_ok(response) is None
        assert "X-Checksum-Sha256" not in response.headers
    listed = assert_ok(api.request("GET", block_url(api, "big/file.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id}))
    assert listed == [
        {"size": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest(), "sequence": number}
        for number, chunk in enumerate(chunks, 1)
    ]
    headers = {"X-BKREPO-UPLOAD-ID": upload_id, "X-BKREPO-META-Origin": "blocks"}
    assert assert_ok(api.request("PUT", block_url(api, "big/file.bin"), headers=headers)) is None
    response = api.get("big/file.bin")
    assert response.content == b"".join(chunks)
    assert response.headers["ETag"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    detail = assert_ok(
        api.request("GET", f"/repository/api/node/detail/{api.project}/{api.repos.private}/big/file.bin")
    )
    assert detail["metadata"] == {"origin": "blocks"}
    # The parts were consumed.
    assert_error(
        api.request("PUT", block_url(api, "big/file.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id}), 400, 251201
    )


def test_resent_part_is_kept_unless_overwrite(api: Api) -> None:
    upload_id = start(api, "resend.bin")
    assert_ok(part(api, "resend.bin", upload_id, 1, b"first"))
    assert_ok(part(api, "resend.bin", upload_id, 1, b"second"))
    listed = assert_ok(api.request("GET", block_url(api, "resend.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id}))
    assert listed[0]["sha256"] == hashlib.sha256(b"first").hexdigest()
    assert_ok(part(api, "resend.bin", upload_id, 1, b"third", **{"X-BKREPO-OVERWRITE": "true"}))
    assert_ok(api.request("PUT", block_url(api, "resend.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id}))
    assert api.get("resend.bin").content == b"third"


def test_part_digests_are_checked_against_the_part(api: Api) -> None:
    upload_id = start(api, "digest.bin")
    good = {"X-BKREPO-SHA256": hashlib.sha256(b"part").hexdigest()}
    assert_ok(part(api, "digest.bin", upload_id, 1, b"part", **good))
    assert_error(part(api, "digest.bin", upload_id, 2, b"part", **{"X-BKREPO-MD5": "0" * 32}), 400, 251003)


def test_start_refuses_existing_without_overwrite(api: Api) -> None:
    assert_ok(api.put("exists.bin", b"x"))
    assert_error(api.request("POST", block_url(api, "exists.bin")), 400, 251012)
    start(api, "exists.bin", **{"X-BKREPO-OVERWRITE": "true"})


def test_complete_conflict_after_parts_were_consumed(api: Api) -> None:
    upload_id = start(api, "race.bin")
    assert_ok(part(api, "race.bin", upload_id, 1, b"mine"))
    assert_ok(api.put("race.bin", b"theirs"))
    complete = api.request("PUT", block_url(api, "race.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id})
    assert_error(complete, 400, 251012)
    assert api.get("race.bin").content == b"theirs"
    again = api.request("PUT", block_url(api, "race.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id})
    assert_error(again, 400, 251201)


def test_complete_with_overwrite_replaces(api: Api) -> None:
    assert_ok(api.put("replace.bin", b"old"))
    upload_id = start(api, "replace.bin", **{"X-BKREPO-OVERWRITE": "true"})
    assert_ok(part(api, "replace.bin", upload_id, 1, b"new"))
    headers = {"X-BKREPO-UPLOAD-ID": upload_id, "X-BKREPO-OVERWRITE": "true"}
    assert_ok(api.request("PUT", block_url(api, "replace.bin"), headers=headers))
    assert api.get("replace.bin").content == b"new"


def test_broken_part_sequences(api: Api) -> None:
    empty = start(api, "empty.bin")
    assert_error(api.request("PUT", block_url(api, "empty.bin"), headers={"X-BKREPO-UPLOAD-ID": empty}), 400, 251212)
    gap = start(api, "gap.bin")
    assert_ok(part(api, "gap.bin", gap, 1, b"1"))
    assert_ok(part(api, "gap.bin", gap, 3, b"3"))
    assert_error(api.request("PUT", block_url(api, "gap.bin"), headers={"X-BKREPO-UPLOAD-ID": gap}), 400, 251212)
    zero = start(api, "zero.bin")
    assert_ok(part(api, "zero.bin", zero, 0, b"0"))
    assert_ok(part(api, "zero.bin", zero, 1, b"1"))
    assert_error(api.request("PUT", block_url(api, "zero.bin"), headers={"X-BKREPO-UPLOAD-ID": zero}), 400, 251212)
    assert_error(api.get("gap.bin"), 404, 251010)


def test_abort(api: Api) -> None:
    upload_id = start(api, "abort.bin")
    assert_ok(part(api, "abort.bin", upload_id, 1, b"x"))
    headers = {"X-BKREPO-UPLOAD-ID": upload_id}
    assert assert_ok(api.request("DELETE", block_url(api, "abort.bin"), headers=headers)) is None
    assert_error(api.request("DELETE", block_url(api, "abort.bin"), headers=headers), 400, 251201)
    assert_error(part(api, "abort.bin", upload_id, 2, b"y"), 400, 251201)
    assert_error(api.request("GET", block_url(api, "abort.bin"), headers=headers), 400, 251201)
    assert_error(api.get("abort.bin"), 404, 251010)


def test_missing_or_unknown_upload_id(api: Api) -> None:
    for method in ("PUT", "DELETE", "GET"):
        body = assert_error(api.request(method, block_url(api, "x.bin")), 400, 250118)
        assert body["message"] == "Header [X-BKREPO-UPLOAD-ID] is missing"
        unknown = {"X-BKREPO-UPLOAD-ID": "0" * 32}
        assert_error(api.request(method, block_url(api, "x.bin"), headers=unknown), 400, 251201)
    traversal = {"X-BKREPO-UPLOAD-ID": "../../../etc"}
    assert_error(api.request("DELETE", block_url(api, "x.bin"), headers=traversal), 400, 251201)
    assert_error(part(api, "x.bin", "0" * 32, 1, b"x"), 400, 251201)
    assert_error(part(api, "x.bin", start(api, "x.bin"), "one", b"x"), 500, 250102)


def test_block_permissions(api: Api) -> None:
    assert_error(api.request("POST", block_url(api, "anon.bin"), anonymous=True), 401, 250114)
    url = f"{api.base}/generic/block/{api.project}/no-such-repo/x.bin"
    assert_error(api.request("POST", url), 404, 251006)
