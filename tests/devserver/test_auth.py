"""Authentication and authorisation: Basic auth, public repositories, 401/403/404 order."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from bkstorages_contrib.testing import DevServer
from tests.devserver.conftest import Api, assert_error, assert_ok, parse_local

WWW_AUTHENTICATE = 'Basic realm="Authentication Required"'


def assert_unauthenticated(response: requests.Response, reason: str = "Unauthorized") -> None:
    body = assert_error(response, 401, 250114)
    assert body["message"] == f"Failed to authenticate: {reason}"
    assert response.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


def test_anonymous_reads_public_repository(api: Api) -> None:
    assert_ok(api.put("pub.txt", b"public", repo=api.repos.public))
    response = api.get("pub.txt", repo=api.repos.public, anonymous=True)
    assert response.status_code == 200
    assert response.content == b"public"
    head = api.request("HEAD", api.generic("pub.txt", api.repos.public), anonymous=True)
    assert head.status_code == 200
    listing = f"/repository/api/node/page/{api.project}/{api.repos.public}/"
    assert assert_ok(api.request("GET", listing, anonymous=True))["totalRecords"] == 1
    info = f"/repository/api/repo/info/{api.project}/{api.repos.public}/GENERIC"
    assert assert_ok(api.request("GET", info, anonymous=True))["public"] is True


def test_anonymous_cannot_write_public_repository(api: Api) -> None:
    assert_unauthenticated(api.put("x.txt", b"x", repo=api.repos.public, anonymous=True))
    assert_ok(api.put("y.txt", b"y", repo=api.repos.public))
    assert_unauthenticated(api.request("DELETE", api.generic("y.txt", api.repos.public), anonymous=True))
    assert api.get("y.txt", repo=api.repos.public).status_code == 200


def test_anonymous_cannot_touch_private_repository(api: Api) -> None:
    assert_ok(api.put("secret.txt", b"s"))
    assert_unauthenticated(api.get("secret.txt", anonymous=True))
    assert_unauthenticated(api.get("missing.txt", anonymous=True))
    assert_unauthenticated(api.put("new.txt", b"n", anonymous=True))
    info = f"/repository/api/repo/info/{api.project}/{api.repos.private}/GENERIC"
    assert_unauthenticated(api.request("GET", info, anonymous=True))
    listing = f"/repository/api/node/page/{api.project}/{api.repos.private}/"
    assert_unauthenticated(api.request("GET", listing, anonymous=True))
    detail = f"/repository/api/node/detail/{api.project}/{api.repos.private}/secret.txt"
    assert_unauthenticated(api.request("GET", detail, anonymous=True))


def test_missing_repository_is_404_before_auth(api: Api) -> None:
    body = assert_error(api.get("x.txt", repo="no-such-repo", anonymous=True), 404, 251006)
    assert body["message"] == "Repository [no-such-repo] not found"
    assert_error(api.put("x.txt", b"x", repo="no-such-repo"), 404, 251006)
    response = api.request("GET", f"{api.base}/generic/no-such-project/{api.repos.private}/x.txt")
    assert_error(response, 404, 251006)


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        (("admin", "wrong"), "Authorization value check failed"),
        (("nobody", "blueking"), "Authorization value check failed"),
    ],
)
def test_bad_credentials_are_never_anonymous(api: Api, auth: tuple[str, str], reason: str) -> None:
    assert_ok(api.put("pub.txt", b"p", repo=api.repos.public))
    assert_unauthenticated(api.get("pub.txt", repo=api.repos.public, auth=auth), reason)
    assert_unauthenticated(api.get("x.txt", repo="no-such-repo", auth=auth), reason)


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + "bm9jb2xvbg==", "Basic"])
def test_malformed_basic_header(api: Api, header: str) -> None:
    response = api.get("x.txt", anonymous=True, headers={"Authorization": header})
    assert_unauthenticated(response, "Invalid authorization value.")


def test_read_only_user_gets_403_for_writes(reader_server: DevServer) -> None:
    base = reader_server.endpoint_url
    project, private = reader_server.project, reader_server.private_bucket
    admin = (reader_server.username, reader_server.password)
    reader = ("reader", "reader-pass")
    url = f"{base}/generic/{project}/{private}/shared.txt"
    assert_ok(requests.put(url, data=b"shared", auth=admin, timeout=30))
    assert requests.get(url, auth=reader, timeout=30).content == b"shared"
    body = assert_error(requests.put(url, data=b"x", auth=reader, timeout=30), 403, 250113)
    assert body["message"] == (
        f"Access denied: user[reader] does not have [WRITE] permission in project[{project}] repo[{private}]"
    )
    assert_error(requests.delete(url, auth=reader, timeout=30), 403, 250113)
    create = {"projectId": project, "repoName": private, "fullPathSet": ["/shared.txt"], "type": "DOWNLOAD"}
    assert_error(
        requests.post(f"{base}/generic/temporary/url/create", json=create, auth=reader, timeout=30), 403, 250113
    )
    repo = {"projectId": project, "name": "readers-repo", "type": "GENERIC", "category": "LOCAL", "public": False}
    assert_error(requests.post(f"{base}/repository/api/repo/create", json=repo, auth=reader, timeout=30), 403, 250113)


def test_server_time_zone_and_request_time_zone(reader_server: DevServer) -> None:
    base = reader_server.endpoint_url
    url = f"{base}/generic/{reader_server.project}/{reader_server.private_bucket}/tz.txt"
    auth = (reader_server.username, reader_server.password)
    shanghai = requests.put(url, data=b"t", auth=auth, headers={"X-BKREPO-OVERWRITE": "true"}, timeout=30)
    assert shanghai.headers["X-BKREPO-Time-Zone"] == "+0800"
    detail_url = f"{base}/repository/api/node/detail/{reader_server.project}/{reader_server.private_bucket}/tz.txt"
    utc = requests.get(detail_url, auth=auth, headers={"X-BKREPO-Time-Zone": "UTC"}, timeout=30)
    assert utc.headers["X-BKREPO-Time-Zone"] == "+0000"
    offset = requests.get(detail_url, auth=auth, headers={"X-BKREPO-Time-Zone": "+05:30"}, timeout=30)
    assert offset.headers["X-BKREPO-Time-Zone"] == "+0530"
    difference = parse_local(shanghai.json()["data"]["createdDate"]) - parse_local(utc.json()["data"]["createdDate"])
    assert difference == dt.timedelta(hours=8)


def platform(access_key: str, secret_key: str) -> str:
    import base64

    return "Platform " + base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()


def test_platform_auth(reader_server: DevServer) -> None:
    base = reader_server.endpoint_url
    url = f"{base}/generic/{reader_server.project}/{reader_server.private_bucket}/platform.txt"
    headers = {"Authorization": platform("app", "app-secret"), "X-BKREPO-UID": "alice", "X-BKREPO-OVERWRITE": "true"}
    data = assert_ok(requests.put(url, data=b"by alice", headers=headers, timeout=30))
    assert data["createdBy"] == "alice"
    no_uid = {"Authorization": platform("app", "app-secret")}
    assert requests.get(url, headers=no_uid, timeout=30).content == b"by alice"
    wrong = {"Authorization": platform("app", "nope"), "X-BKREPO-UID": "alice"}
    assert_unauthenticated(requests.get(url, headers=wrong, timeout=30), "AccessKey/SecretKey check failed.")
    malformed = {"Authorization": "Platform !!!"}
    assert_unauthenticated(requests.get(url, headers=malformed, timeout=30), "Invalid authorization value")
    # A user created through a platform account cannot log in with Basic auth.
    assert requests.get(url, auth=("alice", ""), timeout=30).status_code == 401
