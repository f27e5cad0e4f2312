"""Direct uploads: the signing view, the browser's PUT (here: requests, no credentials) and the field's checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from django import forms
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import RequestFactory

from bkstorages.backends.bkrepo import BKRepoPrivateStorage
from bkstorages_contrib.forms import SALT, DirectUploadField, DirectUploadView, DirectUploadWidget


def sign(storage: Any, filename: str, prefix: str = "direct/") -> dict[str, Any]:
    view = DirectUploadView.as_view(storage=storage, prefix=prefix)
    response = view(RequestFactory().post("/sign/", {"filename": filename}))
    assert response.status_code == 200, response.content
    answer: dict[str, Any] = json.loads(response.content)
    return answer


class ReportForm(forms.Form):
    report = DirectUploadField(sign_url="/sign/", storage="private", prefix="direct/", max_size=100)


def test_browser_upload_through_a_signed_link(bk: Any) -> None:
    answer = sign("private", "../../etc/report 1.txt")
    assert answer["name"] == "direct/report_1.txt"  # the base name only, through get_valid_name
    assert "/generic/temporary/upload/" in answer["url"]
    assert "token=" in answer["url"]
    put = requests.put(answer["url"], data=b"straight from the browser", timeout=30)
    assert put.status_code == 200, put.text
    again = requests.put(answer["url"], data=b"second try", timeout=30)
    assert again.status_code == 400  # one permit: the link is used up
    form = ReportForm({"report": answer["signed_name"]})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["report"] == "direct/report_1.txt"
    with storages["private"].open("direct/report_1.txt") as stored:
        assert stored.read() == b"straight from the browser"


def test_the_view_signs_only_names_that_are_free(bk: Any) -> None:
    replacing = BKRepoPrivateStorage(file_overwrite=True)
    replacing.save("direct/taken.txt", ContentFile(b"keep me"))
    answer = sign(replacing, "taken.txt")
    assert answer["name"].startswith("direct/taken_")
    assert answer["name"].endswith(".txt")
    assert not replacing.exists(answer["name"])
    # Even a client that asks bk-repo to overwrite cannot reach the existing file.
    put = requests.put(answer["url"], data=b"new", headers={"X-BKREPO-OVERWRITE": "true"}, timeout=30)
    assert put.status_code == 200
    with replacing.open("direct/taken.txt") as kept:
        assert kept.read() == b"keep me"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("direct/report.txt", "outside"),  # not signed by the view
        (signing.dumps("elsewhere/report.txt", salt=SALT), "outside"),
        (signing.dumps("direct/../secret.txt", salt=SALT), "outside"),
        (signing.dumps("direct/never-uploaded.txt", salt=SALT), "missing"),
        (signing.dumps("direct/folder", salt=SALT), "missing"),
        (signing.dumps("direct/big.bin", salt=SALT), "too_large"),
    ],
    ids=["unsigned", "other-prefix", "climbing", "missing", "folder", "too-large"],
)
def test_the_field_refuses_what_it_did_not_hand_out_or_cannot_find(bk: Any, value: str, error: str) -> None:
    private = storages["private"]
    private.save("direct/folder/inside.txt", ContentFile(b"x"))
    private.save("direct/big.bin", ContentFile(b"x" * 101))
    private.save("elsewhere/report.txt", ContentFile(b"x"))
    form = ReportForm({"report": value})
    assert not form.is_valid()
    assert form.errors.as_data()["report"][0].code == error
    if error == "too_large":
        assert not private.exists("direct/big.bin")  # nothing else would remove it


def test_the_widget_renders_a_chooser_and_the_signed_name(bk: Any) -> None:
    html = DirectUploadWidget(sign_url="/sign/").render("report", signing.dumps("direct/a.txt", salt=SALT))
    assert 'data-sign-url="/sign/"' in html
    assert 'type="file"' in html
    assert "Stored as direct/a.txt" in html
    assert "bkstorages_contrib/direct_upload.js" in str(DirectUploadWidget().media)
    forged = DirectUploadWidget(sign_url="/sign/").render("report", "direct/a.txt")
    assert "Stored as" not in forged


def test_the_view_says_when_bk_repo_refuses_to_sign(bk: Any) -> None:
    stranger = BKRepoPrivateStorage(username="stranger", password="not-the-password")
    view = DirectUploadView.as_view(storage=stranger, prefix="direct/")
    response = view(RequestFactory().post("/sign/", {"filename": "a.txt"}))
    assert response.status_code == 502
    answer = json.loads(response.content)
    assert "refused to sign" in answer["error"]
    assert "not-the-password" not in response.content.decode()
