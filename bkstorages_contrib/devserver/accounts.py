"""Who is asking, and what they may do.

:meth:`Accounts.authenticate` turns the ``Authorization`` header into a
:class:`Principal`; :meth:`Accounts.decide` is the one place that decides
whether a principal may do an action on a project or one of its
repositories. Users and their passwords live in the store.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Literal

from .envelope import ApiError, unauthenticated
from .store import Repo, Store

Action = Literal["READ", "DOWNLOAD", "WRITE", "DELETE", "MANAGE"]
READ: Action = "READ"
DOWNLOAD: Action = "DOWNLOAD"
WRITE: Action = "WRITE"
DELETE: Action = "DELETE"
MANAGE: Action = "MANAGE"
#: Actions that only read; anyone may do them on a public repository.
READS = (READ, DOWNLOAD)


@dataclass(frozen=True)
class Principal:
    """The acting user; ``platform`` when a platform account (trusted) speaks for them."""

    name: str
    platform: bool = False

    @property
    def anonymous(self) -> bool:
        return self.name == ANONYMOUS.name


ANONYMOUS = Principal("anonymous")


def _decode_pair(credentials: str, reason: str) -> tuple[str, str]:
    """``base64(first:second)`` -> (first, second); 401 with ``reason`` when malformed."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthenticated(reason) from None
    first, colon, second = decoded.partition(":")
    if not colon:
        raise unauthenticated(reason)
    return first, second


class Accounts:
    """Authentication (Basic, and ``Platform`` for the configured platform accounts) and rights."""

    def __init__(self, store: Store, platform_accounts: dict[str, str] | None = None) -> None:
        self.store = store
        self.platform_accounts = dict(platform_accounts or {})

    def authenticate(self, authorization: str | None, acting_user: str | None) -> Principal:
        """The principal behind an ``Authorization`` header; anonymous without one.

        ``acting_user`` is ``X-BKREPO-UID``, which names the user a platform account acts for.
        """
        value = (authorization or "").strip()
        if not value:
            return ANONYMOUS
        scheme, _, credentials = value.partition(" ")
        if scheme == "Platform":
            return self._platform(credentials, acting_user)
        if scheme.lower() != "basic":
            # Other schemes (Bearer, Temporary, ...) are not emulated: treated as no credentials.
            return ANONYMOUS
        username, password = _decode_pair(credentials, "Invalid authorization value.")
        if not self.store.check_user(username, password):
            raise unauthenticated("Authorization value check failed")
        return Principal(username)

    def _platform(self, credentials: str, acting_user: str | None) -> Principal:
        """``Platform base64(accessKey:secretKey)`` plus ``X-BKREPO-UID`` naming the acting user."""
        access_key, secret_key = _decode_pair(credentials, "Invalid authorization value")
        expected = self.platform_accounts.get(access_key)
        if expected is None or not hmac.compare_digest(expected.encode(), secret_key.encode()):
            raise unauthenticated("AccessKey/SecretKey check failed.")
        user = (acting_user or "").strip() or ANONYMOUS.name
        if user != ANONYMOUS.name:
            self.store.ensure_platform_user(user)
        return Principal(user, platform=True)

    def permit(self, principal: Principal, action: Action, project: str, repo_name: str) -> Repo:
        """The repository, if ``principal`` may do ``action`` on it; a missing one is 404 first."""
        repo = self.store.get_repo(project, repo_name)
        if repo is None:
            raise ApiError(251006, repo_name)
        self.decide(principal, action, project, repo)
        return repo

    def permit_project(self, principal: Principal, action: Action, project: str) -> None:
        """Raise unless ``principal`` may do ``action`` on the project itself (create a repository)."""
        self.decide(principal, action, project, None)

    def decide(self, principal: Principal, action: Action, project: str, repo: Repo | None) -> None:
        """May ``principal`` do ``action`` in ``project`` (on ``repo`` when given)? Raises 401/403 if not.

        bk-repo's order: public reads pass, then platform accounts (trusted,
        whoever they act for), then anonymous is 401, then the user's rights:
        the CLI's users act everywhere (its read-only users only read); users
        made by ``/auth/api/user/create/{repo,project}`` may do anything on
        what their grants cover (a repository, or a whole project as its
        admin) and nothing elsewhere but read public repositories.
        """
        if repo is not None and action in READS and repo.public:
            return
        if principal.platform:
            return
        if principal.anonymous:
            raise unauthenticated()
        rights = self.store.user_rights(principal.name)
        if rights.admin or rights.covers(project, None if repo is None else repo.name):
            return
        if rights.everywhere and action in READS:
            return
        where = f"project[{project}]" if repo is None else f"project[{project}] repo[{repo.name}]"
        raise ApiError(250113, f"user[{principal.name}] does not have [{action}] permission in {where}")

    def require_project_admin(self, principal: Principal, project: str) -> None:
        """bk-repo's ``preCheckProjectAdmin``: MANAGE on the project, else 400/250236 (not 403)."""
        try:
            self.decide(principal, MANAGE, project, None)
        except ApiError as error:
            if error.code != 250113:
                raise
            raise ApiError(250236) from None

    def require_admin(self, principal: Principal) -> None:
        """The dev server's own routes: its admin users and platform accounts only."""
        if principal.platform:
            return
        if principal.anonymous:
            raise unauthenticated()
        if not self.store.user_rights(principal.name).admin:
            raise ApiError(250113, f"user[{principal.name}] is not an admin of the dev server")
