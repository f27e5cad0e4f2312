"""A walk through the running sandbox in headless Chromium (Debian's chromium and chromedriver).

The site runs as ``make sandbox`` runs it (``scripts/sandbox.sh``), pointed at
fresh repositories of the dev-server fixture. Screenshots of every step go to
``tests/.artifacts/screenshots/``.
"""

import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.sandbox.conftest import png_bytes
from tests.sandbox.runner import REPO_DIR, SandboxProcess

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = REPO_DIR / "tests" / ".artifacts" / "screenshots"
SHORT_LINK_SECONDS = 2
ADMIN_PASSWORD = "browser-test-password"


@pytest.fixture
def sandbox(bkrepo_server: Any, bkrepo_repos: Any, tmp_path: Path) -> Iterator[SandboxProcess]:
    """The sandbox site on fresh repositories, stopped with SIGINT afterwards."""
    env = {
        **bkrepo_server.env(),
        "BKREPO_BUCKET": bkrepo_repos.private,
        "BKREPO_PRIVATE_BUCKET": bkrepo_repos.private,
        "BKREPO_PUBLIC_BUCKET": bkrepo_repos.public,
        "SANDBOX_SHORT_LINK_SECONDS": str(SHORT_LINK_SECONDS),
        "SANDBOX_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    site = SandboxProcess(env, tmp_path / "sandbox-data")
    try:
        site.wait_until_serving()
        yield site
    finally:
        site.interrupt()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    # Selenium must never fetch a browser or driver of its own.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    # bk-repo sends files as attachments: let them land in a folder the test reads.
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(tmp_path / "downloads"),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Walk:
    """Small helpers for one walk through the site."""

    def __init__(self, driver: WebDriver, site: SandboxProcess, downloads: Path) -> None:
        self.driver = driver
        self.site = site
        self.downloads = downloads
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.driver.get(self.site.url + path)

    def find(self, css: str) -> Any:
        return WebDriverWait(self.driver, 15).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def text(self, css: str = "body") -> str:
        """The text of the first element matching ``css``, read again if the page changed under it."""
        found = WebDriverWait(self.driver, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda driver: [driver.find_element(By.CSS_SELECTOR, css).text]
        )
        return str(found[0])

    def submit(self, form: str, files: dict[str, Path], fields: dict[str, str] | None = None) -> None:
        page = self.find(f"#{form}")
        for name, path in files.items():
            self.find(f"#{form} input[name={name}]").send_keys(str(path))
        for name, value in (fields or {}).items():
            field = self.find(f"#{form} input[name={name}]")
            field.clear()
            field.send_keys(value)
        self.find(f"#{form} button[type=submit]").click()
        self.wait_until_gone(page)

    def wait_until_gone(self, page: Any) -> None:
        """Wait until ``page`` (an element of the old page) has left the document."""

        def gone(driver: WebDriver) -> bool:
            try:
                page.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as error:
                # While a new page replaces it, Chromium may say this instead of "stale".
                if "does not belong to the document" in str(error):
                    return True
                raise
            return False

        WebDriverWait(self.driver, 15).until(gone)

    def click_through(self, css: str) -> None:
        """Click a button that loads a new page, and wait until the old page is gone."""
        page = self.find("body")
        self.find(css).click()
        self.wait_until_gone(page)

    def download(self, link: Any) -> bytes:
        """Click a link to a file and return the (non-empty) bytes the browser saved.

        Chromium may show the final file before it has written it all, so the
        bytes count once no partial download is left and two reads agree.
        """
        before = set(self.downloads.glob("*")) if self.downloads.exists() else set()
        link.click()
        deadline = time.monotonic() + 15
        previous: bytes | None = None
        while time.monotonic() < deadline:
            new = (set(self.downloads.glob("*")) if self.downloads.exists() else set()) - before
            if new and not any(path.name.endswith(".crdownload") for path in new):
                data = b"".join(path.read_bytes() for path in sorted(new))
                if data and data == previous:
                    return data
                previous = data
            time.sleep(0.1)
        raise AssertionError("the browser saved no file")

    def screenshot(self, name: str) -> None:
        assert self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def requests_logged(server: Any, pattern: str) -> int:
    """How many requests matching ``pattern`` (e.g. ``GET /generic/...``) the dev server has logged."""
    return len(re.findall(pattern, server.log_path.read_text("utf-8", errors="replace")))


def wait_logged(server: Any, pattern: str, at_least: int = 1) -> int:
    deadline = time.monotonic() + 15
    while (count := requests_logged(server, pattern)) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def test_walk_through_the_sandbox(
    sandbox: SandboxProcess, browser: WebDriver, tmp_path: Path, bkrepo_server: Any, bkrepo_repos: Any
) -> None:
    walk = Walk(browser, sandbox, tmp_path / "downloads")
    static_gets = rf"GET /generic/{bkrepo_server.project}/{bkrepo_repos.public}/static/"
    content = f"Hello from the browser test {secrets.token_hex(8)}\n".encode()
    text_file = tmp_path / "hello.txt"
    text_file.write_bytes(content)
    image = png_bytes(48, 30, (200, 80, 40))
    image_file = tmp_path / "sunset.png"
    image_file.write_bytes(image)
    document_file = tmp_path / "plan.txt"
    document_file.write_bytes(b"the private plan\n")

    walk.open("/")
    assert "Django files, stored in bk-repo" in walk.text("h1")
    walk.screenshot("01-home")
    # The static files come from bk-repo (collectstatic ran at start) with a max-age,
    # so the next page takes them from the browser's cache: bk-repo sees no request.
    first_view = wait_logged(bkrepo_server, static_gets)
    assert first_view >= 1
    stylesheet = walk.find("link[rel=stylesheet]").get_attribute("href")
    assert f"/{bkrepo_repos.public}/static/gallery/site.css" in stylesheet
    assert requests.get(stylesheet, timeout=10).headers["Cache-Control"] == "public, max-age=300"
    seen = wait_logged(bkrepo_server, static_gets, first_view + 1)  # the line of that check

    # Upload a file and see it listed, then open its URL and get the same bytes.
    walk.open("/files/")
    sentinel = f"/generic/{bkrepo_server.project}/{bkrepo_repos.public}/sentinel-{secrets.token_hex(4)}"
    requests.get(bkrepo_server.endpoint_url + sentinel, timeout=10)  # logged after anything the page fetched
    wait_logged(bkrepo_server, "GET " + sentinel)
    assert requests_logged(bkrepo_server, static_gets) == seen
    walk.submit("upload-form", {"file": text_file})
    assert "Saved uploads/hello.txt." in walk.text(".messages")
    link = walk.find("#upload-list a.file-link")
    assert link.text == "uploads/hello.txt"
    walk.screenshot("02-file-uploaded")
    url = link.get_attribute("href")
    assert walk.download(link) == content
    assert requests.get(url, timeout=10).content == content

    # A name that climbs out of the bucket is a friendly form error.
    walk.open("/files/")
    walk.submit("upload-form", {"file": text_file}, {"save_as": "../../etc/passwd"})
    assert "every file must stay inside the bucket" in walk.text("#upload-form .error")
    walk.screenshot("03-bad-name")

    # Upload an image and see it rendered from the public bucket.
    walk.open("/gallery/")
    walk.submit("photo-form", {"image": image_file}, {"title": "Sunset"})
    img = walk.find("#photo-list img")
    WebDriverWait(walk.driver, 15).until(lambda driver: driver.execute_script("return arguments[0].complete", img))
    assert walk.driver.execute_script("return arguments[0].naturalWidth", img) == 48
    assert "48\u00d730 px" in walk.text("#photo-list")
    assert requests.get(img.get_attribute("src"), timeout=10).content == image
    walk.screenshot("04-gallery")

    # Open a private document through its temporary link.
    walk.open("/documents/")
    walk.submit("document-form", {"file": document_file})
    private_link = walk.find("#document-list a.file-link")
    assert "token=" in private_link.get_attribute("href")
    walk.screenshot("05-documents")
    assert walk.download(private_link) == b"the private plan\n"

    # A link with a two-second lifetime works, then visibly fails.
    walk.open("/documents/")
    walk.click_through("#document-list a.button")
    short_link = walk.find("#short-link").get_attribute("href")
    walk.click_through("#check-link")
    assert "the link works" in walk.text("#check-result")
    time.sleep(SHORT_LINK_SECONDS + 1.5)
    walk.click_through("#check-link")
    assert "the link no longer works" in walk.text("#check-result")
    assert "251022" in walk.text("#check-result")
    assert walk.text("#countdown") == "expired"
    walk.screenshot("06-expired-link")
    walk.driver.get(short_link)
    assert "251022" in walk.text("body")
    walk.screenshot("07-expired-link-opened")

    # A file goes from the browser straight to bk-repo; the form gets only its name.
    direct_file = tmp_path / "direct.txt"
    direct_file.write_bytes(b"sent by the browser itself\n")
    walk.open("/direct/")
    walk.find("#direct-form input[type=file]").send_keys(str(direct_file))
    WebDriverWait(walk.driver, 15).until(lambda _: "Stored as" in walk.text("#direct-form .direct-upload-status"))
    assert walk.text("#direct-form .direct-upload-status") == "Stored as direct/direct.txt"
    walk.screenshot("08-direct-upload")
    walk.click_through("#direct-form button[type=submit]")
    assert "Stored direct/direct.txt (27 bytes) straight from the browser." in walk.text(".messages")
    direct_link = walk.find("#direct-list a.file-link")
    assert direct_link.text == "direct/direct.txt"
    assert requests.get(direct_link.get_attribute("href"), timeout=10).content == b"sent by the browser itself\n"
    put = rf"PUT /generic/temporary/upload/{bkrepo_server.project}/{bkrepo_repos.private}/direct/direct\.txt"
    assert wait_logged(bkrepo_server, put) == 1

    # Delete the uploaded file from the bucket browser.
    walk.open("/browse/default/?path=uploads")
    assert "hello.txt" in walk.text("#browse-list")
    walk.screenshot("09-browser")
    page = walk.find("body")
    walk.find("#browse-list tr.file button").click()
    WebDriverWait(walk.driver, 5).until(expected_conditions.alert_is_present()).accept()
    walk.wait_until_gone(page)
    assert "Deleted uploads/hello.txt" in walk.text(".messages")
    assert "hello.txt" not in walk.text("#browse-list")
    assert requests.get(url, timeout=10).status_code == 404
    walk.screenshot("10-deleted")

    # The admin: log in with the demo user.
    walk.open("/admin/")
    walk.find("#id_username").send_keys("admin")
    walk.find("#id_password").send_keys(ADMIN_PASSWORD)
    walk.click_through("input[type=submit]")
    assert "sandbox files" in walk.text("#content-main").lower()
    walk.open("/admin/gallery/photo/")
    assert "Sunset" in walk.text("#result_list")
    walk.screenshot("11-admin")
