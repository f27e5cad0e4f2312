"""The caller's own mistakes and failures: raised at once, as they are, and nothing is stored.

An ``OSError`` from the content while it is being sent is the caller's (a
disk, a network share), not the network's: it must not be retried nor
turned into ``ConnectionFailedError``. Content that is no file at all, or a
closed file, is refused before any request.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File

from bkstorages.exceptions import NameTooLongError
from tests.faultproxy import FaultProxy, wait_for
from tests.faults.conftest import Bucket, Routes

MiB = 1024 * 1024
OLD = b"the old content\n" * 100
BLOCK_OPTIONS = {"block_upload_threshold": 512 * 1024, "block_size": 512 * 1024, "block_upload_workers": 2}


class FailingFile(io.BytesIO):
    """Seekable content whose reads beyond ``fail_at`` raise ``error`` (the same object every time)."""

    def __init__(self, data: bytes, fail_at: int, error: OSError) -> None:
        super().__init__(data)
        self.fail_at = fail_at
        self.error = error

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() + max(size or 0, 1) > self.fail_at:
            raise self.error
        return super().read(size)


@pytest.mark.parametrize("block", [False, True], ids=["streaming PUT", "block upload"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "overwrite"])
def test_an_oserror_of_the_content_propagates_at_once_and_stores_nothing(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    block: bool,
    existing: bool,
) -> None:
    if existing:
        bucket.put("fails.bin", OLD)
    # Larger than what is hashed before sending (4 MiB), so the failure comes mid-upload.
    boom = OSError(5, "Input/output error")
    content = FailingFile(b"x" * (5 * MiB), fail_at=2 * MiB + 100, error=boom)
    storage = make_storage(file_overwrite=True, **(BLOCK_OPTIONS if block else {}))
    with pytest.raises(OSError, match="Input/output error") as caught:
        storage.save("fails.bin", File(content, name="fails.bin"))
    assert caught.value is boom
    assert bucket.read("fails.bin") == (OLD if existing else None)
    if block:
        assert fault_proxy.count("DELETE", routes.block("fails.bin")) == 1  # aborted
        assert fault_proxy.count("PUT", routes.block("fails.bin")) == 0  # never completed
        assert fault_proxy.count("PUT", routes.object("fails.bin")) <= 10  # each part at most once
    else:
        # The proxy may still be reading the request the storage gave up on.
        assert wait_for(lambda: fault_proxy.count("PUT", routes.object("fails.bin")) == 1)
        time.sleep(0.2)
        assert fault_proxy.count("PUT", routes.object("fails.bin")) == 1  # not sent again


def test_an_oserror_of_small_content_propagates_before_any_request(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket
) -> None:
    boom = OSError(5, "Input/output error")
    with pytest.raises(OSError, match="Input/output error") as caught:
        make_storage().save("small.bin", File(FailingFile(b"y" * 1000, fail_at=500, error=boom), name="small.bin"))
    assert caught.value is boom
    assert bucket.read("small.bin") is None


@pytest.mark.parametrize("content", [None, b"raw bytes", "text", 42], ids=["None", "bytes", "str", "int"])
def test_saving_what_is_no_file_is_a_type_error_before_any_request(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, content: Any
) -> None:
    storage = make_storage()
    with pytest.raises(TypeError, match=r"save\(\) needs a file") as caught:
        storage.save("nothing.txt", content)
    assert type(content).__name__ in str(caught.value)
    with pytest.raises(TypeError, match=r"save\(\) needs a file"):
        storage.save(None, content)
    assert fault_proxy.seen == []


def test_saving_a_closed_file_is_a_value_error_before_any_request(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, tmp_path: Any
) -> None:
    storage = make_storage(file_overwrite=False)
    path = tmp_path / "local.txt"
    path.write_bytes(b"local")
    with open(path, "rb") as handle:
        wrapped = File(handle, name="local.txt")
    memory = io.BytesIO(b"gone")
    memory.close()
    for content in (wrapped, memory, File(memory, name="gone.txt")):
        with pytest.raises(ValueError, match="closed file"):
            storage.save("closed.txt", content)
    assert fault_proxy.seen == []


# Names too long for a bk-repo request line ----------------------------------------

LONG_NAME = "/".join(["\u4e2d" * 300] * 3)  # 900 characters, 8,102 bytes percent-encoded


def test_a_name_too_long_for_a_request_line_is_refused_before_any_request(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy
) -> None:
    storage = make_storage(file_overwrite=False)
    for operation in (
        lambda: storage.save(LONG_NAME, File(io.BytesIO(b"data"), name="x")),
        lambda: storage.exists(LONG_NAME),
        lambda: storage.open(LONG_NAME).read(),
        lambda: storage.size(LONG_NAME),
        lambda: storage.url(LONG_NAME),
        lambda: storage.delete(LONG_NAME),
        lambda: storage.listdir(LONG_NAME),
    ):
        with pytest.raises(SuspiciousFileOperation, match="too long for bk-repo") as caught:
            operation()
        assert len(str(caught.value)) < 300
        assert "at most 7168" in str(caught.value)
    assert fault_proxy.seen == []


def test_the_client_refuses_a_name_too_long_with_a_value_error(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy
) -> None:
    client = make_storage().client
    with pytest.raises(ValueError, match="too long for bk-repo") as caught:
        client.exists(LONG_NAME)
    assert isinstance(caught.value, NameTooLongError)
    with pytest.raises(NameTooLongError):
        client.generate_presigned_url(LONG_NAME, 60)
    assert fault_proxy.seen == []


def test_the_longest_name_allowed_round_trips(make_storage: Callable[..., Any], bucket: Bucket) -> None:
    name = "/".join(["n" * 1000] * 7) + "/" + "e" * 160  # 7,167 bytes encoded
    storage = make_storage()
    assert storage.save(name, File(io.BytesIO(b"long name"), name="x")) == name
    assert storage.open(name).read() == b"long name"
    assert bucket.read(name) == b"long name"


def test_no_error_echoes_a_huge_name_whole(make_storage: Callable[..., Any]) -> None:
    name = "/".join(["m" * 1000] * 7)  # allowed, but not there
    storage = make_storage()
    with pytest.raises(FileNotFoundError) as caught:
        storage.size(name)
    assert len(str(caught.value)) < 1200
    assert "characters)" in str(caught.value)  # cut, with the full length noted
    with pytest.raises(SuspiciousFileOperation) as refused:
        storage.exists("x" * 5000)  # one segment over bk-repo's 1024
    assert len(str(refused.value)) < 400
