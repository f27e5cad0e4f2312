"""The dev server's state under concurrency and over time: token permits, descriptors, stale block uploads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests

from bkstorages_contrib.testing import DevServer, new_repos
from tests.devserver.conftest import Api, assert_error, assert_ok
from tests.devserver.test_block import block_url, part, start


def race(count: int, attempt: Callable[[int], requests.Response]) -> list[requests.Response]:
    """Run ``attempt(i)`` for i in 0..count-1 on as many threads, released together."""
    barrier = threading.Barrier(count)
    results: list[requests.Response | None] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(30)
            results[index] = attempt(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def token_url(api: Api, path: str, kind: str) -> str:
    body = {
        "projectId": api.project,
        "repoName": api.repos.private,
        "fullPathSet": [path],
        "type": kind,
        "permits": 1,
    }
    data = assert_ok(api.request("POST", "/generic/temporary/url/create", json=body))
    return str(data[0]["url"])


def only_one_passed(responses: list[requests.Response]) -> requests.Response:
    passed = [response for response in responses if response.status_code == 200]
    assert len(passed) == 1, [response.status_code for response in responses]
    for response in responses:
        if response.status_code != 200:
            assert response.status_code == 400, response.text
            assert response.json()["code"] in (251021, 251022), response.text
    return passed[0]


def test_one_permit_downloads_once_under_concurrency(api: Api) -> None:
    content = b"permit " * 150_000
    assert_ok(api.put("race/download.bin", content))
    url = token_url(api, "/race/download.bin", "DOWNLOAD")
    responses = race(20, lambda _index: requests.get(url, timeout=60))
    assert only_one_passed(responses).content == content
    assert_error(requests.get(url, timeout=30), 400, 251021)  # the spent token is gone


def test_one_permit_uploads_once_under_concurrency(api: Api) -> None:
    url = token_url(api, "/race/upload.bin", "UPLOAD")
    bodies = [f"upload {index} ".encode() * 50_000 for index in range(20)]
    responses = race(20, lambda index: requests.put(url, data=bodies[index], timeout=60))
    winner = only_one_passed(responses)
    stored = api.get("race/upload.bin").content
    assert stored == bodies[responses.index(winner)]
    assert_error(requests.put(url, data=b"late", timeout=30), 400, 251021)


def test_failed_use_gives_the_permit_back(api: Api) -> None:
    url = token_url(api, "/back.txt", "UPLOAD")
    # The wrong digest fails the upload after its permit was taken.
    assert_error(requests.put(url, data=b"x", headers={"X-BKREPO-SHA256": "0" * 64}, timeout=30), 400, 251003)
    assert_ok(requests.put(url, data=b"x", timeout=30))
    assert api.get("back.txt").content == b"x"


def open_descriptors(server: DevServer) -> int:
    assert server.process is not None
    return int(psutil.Process(server.process.pid).num_fds())


def test_descriptors_stay_bounded_over_many_connections() -> None:
    """Each request on a new connection: a thread's database connection closes with the thread
    (a thread-per-connection runner grew ~2 descriptors per connection until a garbage collection)."""
    with DevServer() as server:
        repos = new_repos(server)
        url = f"{server.endpoint_url}/generic/{server.project}/{repos.private}/fd.txt"
        auth = (server.username, server.password)
        assert requests.put(url, data=b"fd", auth=auth, timeout=30).status_code == 200
        before = open_descriptors(server)
        for _round in range(300):
            with requests.Session() as session:
                assert session.get(url, auth=auth, timeout=30).content == b"fd"
        time.sleep(0.5)  # let the last handler threads finish
        after = open_descriptors(server)
        assert after - before < 40, (before, after)


def block_files(data_dir: Path) -> list[Path]:
    return list((data_dir / "blocks").rglob("*"))


def upload_left(api: Api, path: str) -> str:
    upload_id = start(api, path, expected_expiry=1)
    for sequence in (1, 2):
        assert_ok(part(api, path, upload_id, sequence, bytes([sequence]) * 1024 * 1024))
    return upload_id


def parts_of(api: Api, path: str, upload_id: str) -> requests.Response:
    return api.request("GET", block_url(api, path), headers={"X-BKREPO-UPLOAD-ID": upload_id})


@pytest.mark.parametrize("when", ["next start", "restart"])
def test_stale_block_uploads_are_removed(tmp_path: Path, when: str) -> None:
    data_dir = tmp_path / "data"
    server = DevServer(data_dir, block_upload_expiry=1).start()
    try:
        with requests.Session() as session:
            api = Api(server, new_repos(server), session)
            upload_id = upload_left(api, "stale.bin")
            assert len(assert_ok(parts_of(api, "stale.bin", upload_id))) == 2
            assert (data_dir / "blocks" / upload_id / "2.part").stat().st_size == 1024 * 1024
            time.sleep(1.5)
            if when == "restart":
                server.stop()
                server = DevServer(data_dir, block_upload_expiry=1).start()
                api = Api(server, api.repos, session)
            else:
                start(api, "fresh.bin", expected_expiry=1)  # a new upload sweeps the stale ones
            assert_error(parts_of(api, "stale.bin", upload_id), 400, 251201)
            assert_error(
                api.request("PUT", block_url(api, "stale.bin"), headers={"X-BKREPO-UPLOAD-ID": upload_id}), 400, 251201
            )
            assert not (data_dir / "blocks" / upload_id).exists()
            assert sum(path.stat().st_size for path in block_files(data_dir) if path.is_file()) == 0
    finally:
        server.stop()


@pytest.mark.parametrize("fields", [{"permits": 2**31}, {"permits": 10**30}, {"expireSeconds": 2**63}])
def test_token_numbers_beyond_bkrepo_fields_are_refused(api: Api, fields: dict[str, int]) -> None:
    body = {"projectId": api.project, "repoName": api.repos.private, "fullPathSet": ["/n.txt"], "type": "UPLOAD"}
    assert_error(api.request("POST", "/generic/temporary/url/create", json={**body, **fields}), 400, 250106)
