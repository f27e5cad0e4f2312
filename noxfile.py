"""The supported Python x Django matrix: ``make test-matrix`` (or ``nox -s tests``).

Every session installs the project with its dev extras and one Django series,
then runs the same pytest suite as ``make test``. Interpreters come from the
machine (pyenv provides 3.10 to 3.13 here); a missing one is an error, never a
silent skip.
"""

import nox

nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

DJANGO_SERIES = {
    "4.2": "Django>=4.2,<5.0",
    "5.2": "Django>=5.2,<5.3",
    "6.0": "Django>=6.0,<6.1",
    "6.1": "Django>=6.1,<6.2",
}

MATRIX = [
    (python, django)
    for python in ("3.10", "3.11", "3.12", "3.13")
    for django in DJANGO_SERIES
    if not (django.startswith("6.") and python in ("3.10", "3.11"))
]


@nox.session
@nox.parametrize("python,django", MATRIX)
def tests(session: nox.Session, django: str) -> None:
    session.install("-e", ".[dev,contrib]", DJANGO_SERIES[django])
    session.run("python", "-m", "pytest", *session.posargs)
