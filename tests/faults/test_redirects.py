"""Downloads that bk-repo answers with a redirect: followed in one place, without credentials elsewhere.

A redirect-mode dev server (like a COS-backed bk-repo) serves file bodies from
a second origin; a fault proxy sits in front of each origin. Other tests make
the session's dev server answer with made-up redirects through the fault proxy,
and a small recording server stands for "another origin".
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoStorage
from bkstorages.exceptions import IntegrityError, RedirectError
from bkstorages_contrib.testing import DevServer
from tests.faultproxy import FaultProxy
from tests.faults.conftest import CONNECT_TIMEOUT, DEADLINE, MAX_RETRIES, READ_TIMEOUT, Routes

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedirectDeployment:
    """A redirect-mode dev server, a proxy in front of its API and one in front of its second origin."""

    server: DevServer
    api: FaultProxy
    origin: FaultProxy

    def storage(self, repo: str, **options: Any) -> BKRepoStorage:
        settings: dict[str, Any] = {
            "endpoint_url": self.api.url,
            "username": self.server.username,
            "password": self.server.password,
            "project": self.server.project,
            "bucket": repo,
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "deadline": DEADLINE,
            "max_retries": MAX_RETRIES,
            "backoff": 0.02,
            **options,
        }
        return BKRepoStorage(**settings)


@pytest.fixture(scope="module")
def deployment() -> Iterator[RedirectDeployment]:
    origin_port = free_port()
    with (
        FaultProxy("127.0.0.1", origin_port) as origin,
        DevServer(redirect=True, redirect_port=origin_port, redirect_base_url=origin.url) as server,
        FaultProxy("127.0.0.1", server.port) as api,
    ):
        yield RedirectDeployment(server, api, origin)


@pytest.fixture
def repo(deployment: RedirectDeployment) -> Iterator[str]:
    deployment.api.clear()
    deployment.origin.clear()
    yield deployment.server.create_repo(f"redir-{uuid.uuid4().hex[:12]}")
    deployment.api.clear()
    deployment.origin.clear()


def test_a_redirected_download_is_followed_verified_and_sent_no_credentials(
    deployment: RedirectDeployment, repo: str
) -> None:
    storage = deployment.storage(repo)
    data = os.urandom(3 * MiB + 17)
    storage.save("big.bin", ContentFile(data))
    deployment.api.reset_counts()
    with storage.open("big.bin") as handle:
        assert handle.read() == data
    gets = [seen for seen in deployment.origin.seen if seen.method == "GET"]
    assert len(gets) == 1
    assert "authorization" not in gets[0].headers
    assert "cookie" not in gets[0].headers
    routes = Routes(deployment.server.project, repo)
    assert deployment.api.count("GET", routes.object("big.bin")) == 1
    # Nothing arrived with the redirect to check the body against: node detail says, once.
    assert deployment.api.count("GET", r"^/repository/api/node/detail/") == 1
    assert storage.size("big.bin") == len(data)
    assert storage.exists("big.bin")
    assert storage.stat("big.bin").sha256 == hashlib.sha256(data).hexdigest()


def test_a_broken_body_is_resumed_against_the_redirect_target(deployment: RedirectDeployment, repo: str) -> None:
    storage = deployment.storage(repo)
    data = os.urandom(2 * MiB)
    storage.save("resume.bin", ContentFile(data))
    deployment.origin.add_fault("truncate", method="GET", keep_bytes=MiB // 2)
    deployment.api.reset_counts()
    with storage.open("resume.bin") as handle:
        assert handle.read() == data
    gets = [seen for seen in deployment.origin.seen if seen.method == "GET"]
    assert len(gets) == 2
    assert re.fullmatch(r"bytes=\d+-", gets[1].headers.get("range", ""))
    assert gets[1].headers["range"] != "bytes=0-"
    routes = Routes(deployment.server.project, repo)
    assert deployment.api.count("GET", routes.object("resume.bin")) == 1


def test_an_expired_target_is_asked_for_again(deployment: RedirectDeployment, repo: str) -> None:
    storage = deployment.storage(repo)
    data = os.urandom(2 * MiB)
    storage.save("expired.bin", ContentFile(data))
    deployment.origin.add_fault("truncate", method="GET", keep_bytes=MiB // 2)
    deployment.origin.add_fault("error", method="GET", status=403, plain=True)
    deployment.api.reset_counts()
    with storage.open("expired.bin") as handle:
        assert handle.read() == data
    routes = Routes(deployment.server.project, repo)
    assert deployment.api.count("GET", routes.object("expired.bin")) == 2
    gets = [seen for seen in deployment.origin.seen if seen.method == "GET"]
    assert len(gets) == 3
    assert gets[2].headers.get("range", "").startswith("bytes=")
    assert gets[2].headers["range"] != "bytes=0-"


def test_a_target_that_keeps_refusing_is_an_error(deployment: RedirectDeployment, repo: str) -> None:
    storage = deployment.storage(repo)
    storage.save("refused.bin", ContentFile(b"refused"))
    deployment.origin.add_fault("error", method="GET", status=403, plain=True, times=None)
    with pytest.raises(RedirectError) as raised, storage.open("refused.bin") as handle:
        handle.read()
    assert raised.value.status == 403
    assert "sign" not in str(raised.value)
    assert deployment.server.password not in str(raised.value)


def test_a_corrupted_redirected_body_is_refused(deployment: RedirectDeployment, repo: str) -> None:
    storage = deployment.storage(repo)
    storage.save("flip.bin", ContentFile(os.urandom(MiB)))
    deployment.origin.add_fault("corrupt", method="GET", times=None)
    with pytest.raises(IntegrityError), storage.open("flip.bin") as handle:
        handle.read()


def test_a_lost_upload_answer_is_checked_through_node_detail(deployment: RedirectDeployment, repo: str) -> None:
    storage = deployment.storage(repo, file_overwrite=False)
    routes = Routes(deployment.server.project, repo)
    deployment.api.add_fault("reset_response", method="PUT", path_regex=routes.object("new.bin"))
    assert storage.save("new.bin", ContentFile(b"new content")) == "new.bin"
    assert deployment.api.count("PUT", routes.object("new.bin")) == 1
    assert storage.listdir("") == ([], ["new.bin"])
    with storage.open("new.bin") as handle:
        assert handle.read() == b"new content"


# -- made-up redirects through the fault proxy -----------------------------------------


class Recorder:
    """Another origin: answers ``/hop/N`` with a redirect to ``/hop/N+1`` and anything else with ``body``."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers: list[dict[str, str]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self) -> None:
                recorder.headers.append({name.lower(): value for name, value in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", str(len(recorder.body)))
                self.end_headers()

            def do_GET(self) -> None:
                recorder.headers.append({name.lower(): value for name, value in self.headers.items()})
                if self.path.startswith("/hop/"):
                    self.send_response(302)
                    self.send_header("Location", f"/hop/{int(self.path.rsplit('/', 1)[1]) + 1}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(recorder.body)))
                self.end_headers()
                self.wfile.write(recorder.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Callable[[bytes], Recorder]]:
    made: list[Recorder] = []

    def make(body: bytes) -> Recorder:
        made.append(Recorder(body))
        return made[-1]

    yield make
    for item in made:
        item.close()


def redirect_to(fault_proxy: FaultProxy, routes: Routes, name: str, location: str | None, **headers: str) -> None:
    if location is not None:
        headers["Location"] = location
    fault_proxy.add_fault(
        "error", method="GET", path_regex=routes.object(name), status=302, plain=True, body=b"", headers=headers
    )


def test_another_origin_gets_no_credentials_nor_cookies(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes, recorder: Callable[[bytes], Recorder]
) -> None:
    storage = make_storage()
    storage.save("elsewhere.txt", ContentFile(b"elsewhere"))
    other = recorder(b"elsewhere")
    redirect_to(fault_proxy, routes, "elsewhere.txt", other.url + "/blob?sig=1", **{"Set-Cookie": "sid=secret; Path=/"})
    with storage.open("elsewhere.txt") as handle:
        assert handle.read() == b"elsewhere"
    assert len(other.headers) == 1
    assert "authorization" not in other.headers[0]
    assert "cookie" not in other.headers[0]


def test_the_same_origin_keeps_credentials(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes, bkrepo_repos: Any
) -> None:
    storage = make_storage()
    storage.save("a.txt", ContentFile(b"same"))
    storage.save("b.txt", ContentFile(b"same"))
    target = f"{fault_proxy.url}/generic/{routes.project}/{routes.repo}/b.txt"
    redirect_to(fault_proxy, routes, "a.txt", target)
    with storage.open("a.txt") as handle:
        assert handle.read() == b"same"
    followed = [seen for seen in fault_proxy.seen if seen.method == "GET" and seen.path.endswith("/b.txt")]
    assert len(followed) == 1
    assert followed[0].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("location", "words"),
    [
        (None, "no Location"),
        ("ftp://127.0.0.1/file", "not an HTTP"),
        ("SELF", "loop"),
    ],
)
def test_redirects_that_cannot_be_followed_are_clear_errors(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes, location: str | None, words: str
) -> None:
    storage = make_storage()
    storage.save("bad.txt", ContentFile(b"bad"))
    if location == "SELF":
        location = f"{fault_proxy.url}/generic/{routes.project}/{routes.repo}/bad.txt"
        redirect_to(fault_proxy, routes, "bad.txt", location)
    redirect_to(fault_proxy, routes, "bad.txt", location)
    with pytest.raises(RedirectError, match=words), storage.open("bad.txt") as handle:
        handle.read()


def test_too_many_redirects(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes, recorder: Callable[[bytes], Recorder]
) -> None:
    storage = make_storage()
    storage.save("far.txt", ContentFile(b"far"))
    hops = recorder(b"far")
    redirect_to(fault_proxy, routes, "far.txt", hops.url + "/hop/1")
    with pytest.raises(RedirectError, match="too many"), storage.open("far.txt") as handle:
        handle.read()
    assert 3 <= len(hops.headers) <= 10


def test_a_head_answered_with_a_redirect_is_followed(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes, recorder: Callable[[bytes], Recorder]
) -> None:
    storage = make_storage()
    storage.save("sized.bin", ContentFile(b"0123456789"))
    other = recorder(b"0123456789")
    fault_proxy.add_fault(
        "error",
        method="HEAD",
        path_regex=routes.object("sized.bin"),
        status=302,
        plain=True,
        body=b"",
        headers={"Location": other.url + "/blob"},
        times=2,
    )
    assert storage.size("sized.bin") == 10
    assert storage.exists("sized.bin")
    assert len(other.headers) == 2
    assert all("authorization" not in headers for headers in other.headers)
