"""The project share switch, a repository's folder listing switch, and block uploads onto a folder."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from bkstorages_contrib.testing import DevServer, DevServerError, Repos
from tests.devserver.conftest import Api, assert_error, assert_ok


def create_url(api: Api, project: str, repo: str, kind: str = "url", **kwargs: Any) -> Any:
    body = {"projectId": project, "repoName": repo, "fullPathSet": ["/a.txt"], "type": "DOWNLOAD"}
    return api.request("POST", f"/generic/temporary/{kind}/create", json=body, **kwargs)


def test_share_switch(api: Api, bkrepo_server: DevServer, bkrepo_unshared_project: Repos) -> None:
    project, repo = bkrepo_unshared_project.project, bkrepo_unshared_project.private
    body = assert_error(create_url(api, project, repo), 400, 251037)
    assert body["message"] == f"Share feature is disabled for project [{project}]"
    assert_error(create_url(api, project, repo, kind="token"), 400, 251037)
    # The WRITE check comes first: a user without rights there gets 403, not 251037.
    user = bkrepo_server.create_user(f"u{uuid.uuid4().hex[:8]}", "pw", repo=api.repos.private)
    assert_error(create_url(api, project, repo, auth=(user, "pw")), 403, 250113)
    assert bkrepo_server.set_switch(project, share=True) == {"project": project, "share": True}
    assert_ok(create_url(api, project, repo))
    bkrepo_server.set_switch(project, share=False)
    assert_error(create_url(api, project, repo), 400, 251037)


def test_share_switch_binds_platform_accounts_too(reader_server: DevServer) -> None:
    project = reader_server.create_project(f"p_{uuid.uuid4().hex[:10]}", share=False)
    repo = reader_server.create_repo("files", project=project)
    platform = "Platform " + base64.b64encode(b"app:app-secret").decode()
    body = {"projectId": project, "repoName": repo, "fullPathSet": ["/a.txt"], "type": "DOWNLOAD"}
    response = requests.post(
        f"{reader_server.endpoint_url}/generic/temporary/url/create",
        json=body,
        headers={"Authorization": platform, "X-BKREPO-UID": "someone"},
        timeout=30,
    )
    assert_error(response, 400, 251037)


def test_folder_listing_switch(api: Api, bkrepo_server: DevServer) -> None:
    assert_ok(api.put("dir/inner.txt", b"i"))
    assert api.get("dir", allow_redirects=False).status_code == 302
    switches = bkrepo_server.set_switch(api.project, api.repos.private, list_folders=False)
    assert switches["listFolders"] is False
    body = assert_error(api.get("dir", allow_redirects=False), 403, 251202)
    assert body["message"] == f"Repository[{api.repos.private}] does not allow listing directories[/dir]"
    assert_error(api.get("dir/", allow_redirects=False), 403, 251202)
    assert_error(api.get("dir", params={"download": "true"}), 403, 251202)
    head = api.request("HEAD", api.generic("dir"), allow_redirects=False)
    assert head.status_code == 403
    # Files are not folders; other repositories keep their listing.
    assert api.get("dir/inner.txt").content == b"i"
    assert_ok(api.put("dir/inner.txt", b"i", repo=api.repos.public))
    assert api.get("dir", repo=api.repos.public, allow_redirects=False).status_code == 302


def test_switch_route_is_for_admins(api: Api, bkrepo_server: DevServer) -> None:
    user = bkrepo_server.create_user(f"u{uuid.uuid4().hex[:8]}", "pw", project=api.project)
    route = "/_devserver/switches"
    body = {"project": api.project, "share": False}
    assert_error(api.request("POST", route, json=body, auth=(user, "pw")), 403, 250113)
    assert_error(api.request("POST", route, json=body, anonymous=True), 401, 250114)
    assert_error(api.request("POST", route, json={"project": "no_such_project", "share": False}), 400, 251004)
    assert_error(api.request("POST", route, json={"project": api.project, "listFolders": False}), 400, 250106)
    shown = assert_ok(api.request("GET", route, params={"project": api.project, "repo": api.repos.public}))
    assert shown == {"project": api.project, "share": True, "repo": api.repos.public, "listFolders": True}
    with pytest.raises(DevServerError):
        bkrepo_server.set_switch(api.project, "no-such-repo", list_folders=False)


def test_switches_from_the_cli(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bkstorages_contrib.devserver", "--data", str(tmp_path / "data"), "--port", "0"]
    missing = subprocess.run([*command, "--share-off", "nope"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "--share-off: no project 'nope'" in missing.stderr
    with DevServer(tmp_path / "data", share_off=["bkstorages"], folder_listing_off=["bkstorages/private"]) as server:
        switches = server.set_switch(server.project, server.private_bucket)
        assert switches == {"project": "bkstorages", "share": False, "repo": "private", "listFolders": False}
        public = server.set_switch(server.project, server.public_bucket)
        assert public["listFolders"] is True


def test_block_upload_onto_a_folder_fails_at_complete(api: Api) -> None:
    assert_ok(api.put("dir/inner.txt", b"i"))
    block = f"{api.base}/generic/block/{api.project}/{api.repos.private}/dir"
    overwrite = {"X-BKREPO-OVERWRITE": "true"}
    upload_id = assert_ok(api.request("POST", block, headers=overwrite))["uploadId"]
    assert_ok(api.put("dir", b"part", headers={"X-BKREPO-UPLOAD-ID": upload_id, "X-BKREPO-SEQUENCE": "1"}))
    complete = api.request("PUT", block, headers={**overwrite, "X-BKREPO-UPLOAD-ID": upload_id})
    assert assert_error(complete, 400, 251013)["message"] == "Node [/dir] conflict"
    # The parts were used up; the folder is untouched.
    assert_error(api.request("PUT", block, headers={**overwrite, "X-BKREPO-UPLOAD-ID": upload_id}), 400, 251201)
    assert api.get("dir/inner.txt").content == b"i"
    # Without overwrite the start refuses, as before.
    assert_error(api.request("POST", block), 400, 251012)
