"""Users with rights on one repository or one project, and the routes that make them."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from bkstorages_contrib.testing import DevServer, LimitedUser, Repos
from tests.devserver.conftest import Api, assert_error, assert_ok


def as_user(api: Api, user: str, password: str, method: str, url: str, **kwargs: Any) -> requests.Response:
    return api.request(method, url, auth=(user, password), **kwargs)


def user_body(api: Api, user: str, **fields: Any) -> dict[str, Any]:
    return {"userId": user, "name": user, "pwd": "first-pass", "projectId": api.project, **fields}


def test_repo_user_has_full_rights_on_its_repository_only(api: Api, bkrepo_limited_user: LimitedUser) -> None:
    user, password, repo = bkrepo_limited_user.username, bkrepo_limited_user.password, bkrepo_limited_user.repo
    own = api.generic("mine.txt", repo)
    assert_ok(as_user(api, user, password, "PUT", own, data=b"mine"))
    assert as_user(api, user, password, "GET", own).content == b"mine"
    listing = f"/repository/api/node/page/{api.project}/{repo}/"
    assert assert_ok(as_user(api, user, password, "GET", listing))["totalRecords"] == 1
    assert_ok(as_user(api, user, password, "DELETE", own))
    # Everywhere else: 403/250113, reads of private repositories included.
    assert_ok(api.put("theirs.txt", b"theirs"))
    for method, url in [
        ("GET", api.generic("theirs.txt")),
        ("HEAD", api.generic("theirs.txt")),
        ("PUT", api.generic("new.txt")),
        ("DELETE", api.generic("theirs.txt")),
        ("GET", f"/repository/api/node/page/{api.project}/{api.repos.private}/"),
    ]:
        response = as_user(api, user, password, method, url, data=b"x" if method == "PUT" else None)
        assert response.status_code == 403, (method, url)
        if method != "HEAD":
            body = assert_error(response, 403, 250113)
            assert f"user[{user}]" in body["message"]
    # Public repositories stay readable, not writable.
    assert_ok(api.put("pub.txt", b"p", repo=api.repos.public))
    assert as_user(api, user, password, "GET", api.generic("pub.txt", api.repos.public)).content == b"p"
    assert_error(as_user(api, user, password, "PUT", api.generic("p2.txt", api.repos.public), data=b"x"), 403, 250113)
    # Nor may it create repositories in the project.
    body = {"projectId": api.project, "name": f"r{uuid.uuid4().hex[:8]}", "type": "GENERIC"}
    assert_error(as_user(api, user, password, "POST", "/repository/api/repo/create", json=body), 403, 250113)


def test_create_user_to_repo_creates_then_resets_password(api: Api) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    created = api.request("POST", "/auth/api/user/create/repo", json=user_body(api, user, repoName=api.repos.private))
    assert assert_ok(created) is True
    url = api.generic("a.txt")
    assert_ok(as_user(api, user, "first-pass", "PUT", url, data=b"a"))
    again = user_body(api, user, repoName=api.repos.private, pwd="second-pass")
    assert assert_ok(api.request("POST", "/auth/api/user/create/repo", json=again)) is True
    assert_error(as_user(api, user, "first-pass", "GET", url), 401, 250114)
    assert as_user(api, user, "second-pass", "GET", url).content == b"a"
    # Without pwd an existing user keeps the password.
    keep = {key: value for key, value in again.items() if key != "pwd"}
    assert_ok(api.request("POST", "/auth/api/user/create/repo", json=keep))
    assert as_user(api, user, "second-pass", "GET", url).status_code == 200


def test_create_user_errors(api: Api, bkrepo_limited_user: LimitedUser) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    missing_repo = user_body(api, user, repoName="no-such-repo")
    body = assert_error(api.request("POST", "/auth/api/user/create/repo", json=missing_repo), 400, 250221)
    assert body["message"] == "repo not exist"
    missing_project = user_body(api, user, projectId="no_such_project")
    assert_error(api.request("POST", "/auth/api/user/create/project", json=missing_project), 400, 250217)
    assert_error(api.request("POST", "/auth/api/user/create/repo", json={"userId": user}), 400, 250106)
    # Only an admin of the project may call them (bk-repo's preCheckProjectAdmin: 400/250236).
    limited = (bkrepo_limited_user.username, bkrepo_limited_user.password)
    own_repo = user_body(api, user, repoName=bkrepo_limited_user.repo)
    response = api.request("POST", "/auth/api/user/create/repo", json=own_repo, auth=limited)
    assert_error(response, 400, 250236)
    anonymous = api.request("POST", "/auth/api/user/create/repo", json=own_repo, anonymous=True)
    assert_error(anonymous, 401, 250114)
    # Updating or deleting a user by these old routes is gone from bk-repo.
    assert_error(api.request("PUT", f"/auth/api/user/{user}", json={"pwd": "x"}), 404, 250130)
    assert_error(api.request("DELETE", f"/auth/api/user/{user}"), 404, 250130)


def test_project_admin(api: Api, bkrepo_server: DevServer) -> None:
    project = bkrepo_server.create_project(f"p_{uuid.uuid4().hex[:10]}")
    other = bkrepo_server.create_project(f"p_{uuid.uuid4().hex[:10]}")
    bkrepo_server.create_repo("files", project=project)
    bkrepo_server.create_repo("files", project=other)
    user = f"admin_{uuid.uuid4().hex[:8]}"
    body = {"userId": user, "name": user, "pwd": "pa", "projectId": project}
    assert assert_ok(api.request("POST", "/auth/api/user/create/project", json=body)) is True
    auth = (user, "pa")
    assert_ok(api.request("PUT", f"{api.base}/generic/{project}/files/x.txt", data=b"x", auth=auth))
    repo = {"projectId": project, "name": "made", "type": "GENERIC"}
    assert_ok(api.request("POST", "/repository/api/repo/create", json=repo, auth=auth))
    # A project admin may give others rights in its project, not elsewhere.
    helper = {"userId": "helper", "name": "helper", "projectId": project, "repoName": "made"}
    assert_ok(api.request("POST", "/auth/api/user/create/repo", json=helper, auth=auth))
    elsewhere = {**helper, "projectId": other, "repoName": "files"}
    assert_error(api.request("POST", "/auth/api/user/create/repo", json=elsewhere, auth=auth), 400, 250236)
    denied = api.request("PUT", f"{api.base}/generic/{other}/files/x.txt", data=b"x", auth=auth)
    assert_error(denied, 403, 250113)


def test_project_create(api: Api) -> None:
    name = f"proj_{uuid.uuid4().hex[:10]}"
    body = {"name": name, "displayName": "My project", "description": ""}
    assert assert_ok(api.request("POST", "/repository/api/project/create", json=body)) == name
    existed = assert_error(api.request("POST", "/repository/api/project/create", json=body), 400, 251005)
    assert existed["message"] == f"Project [{name}] existed"
    for bad in ("1starts-with-digit", "x", "has space", "dot.ted", "a" * 101):
        response = api.request("POST", "/repository/api/project/create", json={**body, "name": bad})
        assert assert_error(response, 400, 250105)["message"] == "Parameter [name] is invalid", bad
    short = {**body, "name": f"proj_{uuid.uuid4().hex[:10]}", "displayName": "x"}
    assert_error(api.request("POST", "/repository/api/project/create", json=short), 400, 250105)
    assert_error(api.request("POST", "/repository/api/project/create", json={"name": name}), 400, 250106)
    anonymous = {**body, "name": f"proj_{uuid.uuid4().hex[:10]}"}
    assert_error(api.request("POST", "/repository/api/project/create", json=anonymous, anonymous=True), 401, 250114)
    # The new project takes repositories.
    repo = {"projectId": name, "name": "files", "type": "GENERIC"}
    assert assert_ok(api.request("POST", "/repository/api/repo/create", json=repo))["projectId"] == name


def test_project_creator_becomes_its_admin(api: Api, bkrepo_limited_user: LimitedUser) -> None:
    auth = (bkrepo_limited_user.username, bkrepo_limited_user.password)
    name = f"proj_{uuid.uuid4().hex[:10]}"
    body = {"name": name, "displayName": "Mine", "description": "d"}
    assert_ok(api.request("POST", "/repository/api/project/create", json=body, auth=auth))
    repo = {"projectId": name, "name": "files", "type": "GENERIC"}
    assert_ok(api.request("POST", "/repository/api/repo/create", json=repo, auth=auth))
    assert_ok(api.request("PUT", f"{api.base}/generic/{name}/files/a.txt", data=b"a", auth=auth))


def test_repo_delete(api: Api, bkrepo_server: DevServer, bkrepo_repos: Repos) -> None:
    repo = api.repos.private
    url = f"/repository/api/repo/delete/{api.project}/{repo}"
    assert_ok(api.put("dir/file.txt", b"f"))
    body = assert_error(api.request("DELETE", url), 400, 251008)
    assert body["message"] == "Repository is not empty"
    assert_error(api.request("DELETE", url + "?forced=false"), 400, 251008)
    assert api.get("dir/file.txt").content == b"f"
    # Empty folders alone do not count.
    assert_ok(api.request("DELETE", api.generic("dir/file.txt")))
    assert_ok(api.request("DELETE", url + "?forced="))
    info = f"/repository/api/repo/info/{api.project}/{repo}"
    assert_error(api.request("GET", info), 404, 251006)
    assert_error(api.get("dir/file.txt"), 404, 251006)
    assert_error(api.request("DELETE", url), 404, 251006)
    # The name can be created again and comes back empty.
    bkrepo_server.create_repo(repo)
    listing = assert_ok(api.request("GET", f"/repository/api/node/page/{api.project}/{repo}/?deep=true"))
    assert listing["totalRecords"] == 0


def test_repo_delete_forced(api: Api, bkrepo_server: DevServer, bkrepo_limited_user: LimitedUser) -> None:
    public = api.repos.public
    assert_ok(api.put("a.txt", b"shared content", repo=public))
    assert_ok(api.put("b.txt", b"shared content"))  # the same blob in another repository
    url = f"/repository/api/repo/delete/{api.project}/{public}?forced=true"
    limited = (bkrepo_limited_user.username, bkrepo_limited_user.password)
    assert_error(api.request("DELETE", url, auth=limited), 403, 250113)
    assert_ok(api.request("DELETE", url))
    assert_error(api.get("a.txt", repo=public), 404, 251006)
    assert api.get("b.txt").content == b"shared content"
    own = f"/repository/api/repo/delete/{api.project}/{bkrepo_limited_user.repo}?forced=true"
    assert_ok(api.request("DELETE", own, auth=limited))
