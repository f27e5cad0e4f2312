"""The bkstorages 3.x surface: import paths, names, signatures, and behaviour that is now correct."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKGenericRepoClient, BKRepoStorage
from bkstorages.exceptions import (
    BKStorageError,
    DownloadFailedError,
    ObjectAlreadyExists,
    RequestError,
    UploadFailedError,
)


def client_for(settings: Any, bucket: str) -> BKGenericRepoClient:
    server = settings.server
    # The 3.x positional order: bucket, project, endpoint_url, username, password.
    return BKGenericRepoClient(bucket, server.project, server.endpoint_url, server.username, server.password)


def test_exceptions_keep_their_names_and_join_one_hierarchy() -> None:
    for cls in (RequestError, ObjectAlreadyExists, UploadFailedError, DownloadFailedError):
        assert issubclass(cls, BKStorageError)
    assert issubclass(ObjectAlreadyExists, RequestError)
    error = RequestError("went wrong", "251012", None)
    assert (error.message, error.code, error.response) == ("went wrong", 251012, None)
    assert str(error).startswith("went wrong")
    upload = UploadFailedError(key="a/b", src="/tmp/x")
    assert (upload.key, upload.src) == ("a/b", "/tmp/x")
    download = DownloadFailedError(key="a/b", dest="/tmp/y")
    assert (download.key, download.dest) == ("a/b", "/tmp/y")
    copy = pickle.loads(pickle.dumps(RequestError("m", 250114, status=401)))  # noqa: S301 - our own bytes
    assert (copy.status, copy.code, copy.message) == (401, 250114, "m")


def test_the_storage_import_path_and_3x_attributes(bkrepo_settings: Any) -> None:
    storage = BKRepoStorage(root_path="legacy", project_id=bkrepo_settings.project)
    assert storage.root_path == "legacy"
    assert storage.project_id == bkrepo_settings.project
    assert isinstance(storage.client, BKGenericRepoClient)
    storage.save("a.txt", ContentFile(b"a"))
    assert storage.modified_time("a.txt") == storage.get_modified_time("a.txt")
    assert storage.created_time("a.txt") == storage.get_created_time("a.txt")
    with pytest.raises(NotImplementedError):
        storage.accessed_time("a.txt")


def test_client_upload_and_download_methods(bkrepo_settings: Any, tmp_path: Path) -> None:
    client = client_for(bkrepo_settings, bkrepo_settings.private)
    source = tmp_path / "in.bin"
    source.write_bytes(b"from a file")
    client.upload_file(source, "/c/file.bin")
    client.upload_fileobj(io.BytesIO(b"from memory"), key="c/obj.bin")
    with pytest.raises(ObjectAlreadyExists):
        client.upload_fileobj(io.BytesIO(b"again"), key="c/obj.bin", allow_overwrite=False)
    client.upload_fileobj(io.BytesIO(b"replaced"), key="c/obj.bin")  # overwrite is the 3.x default
    target = tmp_path / "out.bin"
    assert client.download_file("c/file.bin", target) == target
    assert target.read_bytes() == b"from a file"
    buffer = io.BytesIO()
    client.download_fileobj("c/obj.bin", buffer)
    assert buffer.getvalue() == b"replaced"
    metadata = client.get_file_metadata("c/obj.bin")
    assert metadata["Content-Length"] == "8"
    assert client.list_dir("c") == ([], ["file.bin", "obj.bin"])
    assert client.list_dir("/") == (["c"], [])
    client.delete_file("c/obj.bin")
    client.delete_file("c/obj.bin")  # missing: fine
    with pytest.raises(DownloadFailedError) as info:
        client.download_fileobj("c/obj.bin", io.BytesIO())
    assert info.value.status == 404
    with pytest.raises(DownloadFailedError):
        client.download_file("c/obj.bin", tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()  # nothing half-written left behind


def test_upload_failures_say_why(bkrepo_settings: Any) -> None:
    server = bkrepo_settings.server
    client = BKGenericRepoClient(bkrepo_settings.private, server.project, server.endpoint_url, server.username, "bad")
    with pytest.raises(UploadFailedError) as info:
        client.upload_fileobj(io.BytesIO(b"x"), key="x.txt")
    assert info.value.status == 401
    assert "bad" not in str(info.value)


def test_client_urls_and_repository_info(bkrepo_settings: Any) -> None:
    public = client_for(bkrepo_settings, bkrepo_settings.public)
    private = client_for(bkrepo_settings, bkrepo_settings.private)
    assert public.is_public is True
    assert private.is_public is False
    assert public.get_bucket_metadata()["name"] == bkrepo_settings.public
    public.upload_fileobj(io.BytesIO(b"open"), key="p q.txt")
    url = public.build_download_url("/p q.txt")
    assert "p%20q.txt" in url
    response = requests.get(url, timeout=10)
    assert response.content == b"open"
    assert "Content-Disposition" not in response.headers  # inline unless force_download
    assert "Content-Disposition" in requests.get(public.build_download_url("p q.txt", True), timeout=10).headers
    private.upload_fileobj(io.BytesIO(b"secret"), key="s#1.txt")
    signed = private.generate_presigned_url("s#1.txt", expires_in=60)
    assert requests.get(signed, timeout=10).content == b"secret"
    assert requests.get(private.build_download_url("s#1.txt"), timeout=10).status_code == 401


def test_generate_presigned_url_takes_extra_arguments_like_its_siblings(bkrepo_settings: Any) -> None:
    private = client_for(bkrepo_settings, bkrepo_settings.private)
    private.upload_fileobj(io.BytesIO(b"extra"), key="extra.txt")
    signed = private.generate_presigned_url("/extra.txt", 60, "DOWNLOAD", "ignored", ignored=True)
    assert requests.get(signed, timeout=10).content == b"extra"


def test_the_client_is_told_whether_its_repository_is_public(bkrepo_settings: Any) -> None:
    server = bkrepo_settings.server
    # Port 9 (discard) is closed: asking the repository would fail loudly.
    told = BKGenericRepoClient(bkrepo_settings.private, server.project, "http://127.0.0.1:9", public=True)
    assert told.is_public is True
    asked = BKGenericRepoClient(
        bkrepo_settings.private, server.project, server.endpoint_url, server.username, server.password, public=None
    )
    assert asked.is_public is False
