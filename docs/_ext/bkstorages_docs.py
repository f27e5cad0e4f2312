"""Sphinx directives that write the reference pages from the code itself.

``.. bkstorages-settings::``
    One section per option of :data:`bkstorages.conf.OPTIONS` (setting,
    environment variable, keyword, type, default, what it does), plus the
    settings a storage class reads instead of an option's own (the buckets).
    The directive's content adds longer explanations: a line naming a setting
    or keyword, then the indented text that belongs to it. Text for an option
    the table does not have is an error, so explanations cannot outlive their
    option.

``.. devserver-routes::``
    The dev server's route table, in the order it is tried: the path, each
    method and the handler that answers it, with the first paragraph of the
    handler's docstring.

``.. django-command:: NAME``
    The usage and options of a ``bkstorages_contrib`` management command,
    from its own argument parser (Django's common options left out).

``.. bkstorages-checks::``
    Every system check of ``bkstorages_contrib.checks.CHECKS``: its id,
    level and problem, the example configuration of the table, and what
    ``manage.py check`` says for it (the checks run while the page is built).

``.. soak-results:: PATH``
    The figures of a soak (``bench/soak.py --json PATH``): when and on what
    it ran, operations, errors and wrong answers, p50/p99 per operation, and
    the dev server's descriptors and memory before and after.

Each settings section also declares the setting with ``.. setting::``, so pages link
to it with ``:setting:`BKREPO_...```.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

KIND_NAMES = {
    "str": "string",
    "bool": "boolean",
    "optional_bool": "boolean, or unset",
    "float": "number",
    "int": "integer",
    "dict": "dict of strings (environment variable: a JSON object)",
}

MiB = 1024 * 1024


def literal(value: Any) -> str:
    return f"``{value!r}``" if not isinstance(value, str) else f'``"{value}"``'


def describe_default(option: Any) -> str:
    if option.required:
        return "required"
    if option.default is None:
        return "none"
    text = literal(option.default)
    if isinstance(option.default, int) and not isinstance(option.default, bool) and option.default >= MiB:
        size = option.default / MiB
        text += f" ({size / 1024:g} GiB)" if size >= 1024 else f" ({size:g} MiB)"
    return text


def sentence(text: str) -> str:
    """A help text as a sentence: capitalized (except a name such as bk-repo) and with a full stop."""
    text = text.strip()
    if not text.startswith("bk"):
        text = text[:1].upper() + text[1:]
    return text + ("" if text.endswith(".") else ".")


def class_settings() -> dict[str, list[str]]:
    """Option name -> the settings storage classes read for it instead of the option's own."""
    from bkstorages import conf

    found: dict[str, list[str]] = {}
    for setting, option in getattr(conf, "CLASS_SETTINGS", {}).items():
        found.setdefault(option, []).append(setting)
    if not found:  # before conf.py had the table: the classes' own attributes
        from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
        from bkstorages_contrib import staticfiles

        found["bucket"] = [cls.bucket_setting for cls in (BKRepoStorage, BKRepoPublicStorage, BKRepoPrivateStorage)] + [
            staticfiles.STATIC_BUCKET_SETTING
        ]
        found["public"] = list(conf.PUBLIC_SETTING_BY_BUCKET_SETTING.values())
        found["location"] = [staticfiles.STATIC_LOCATION_SETTING]
    return found


def parse_notes(content: StringList) -> dict[str, StringList]:
    """``NAME`` lines followed by indented text -> {NAME: that text, dedented}."""
    notes: dict[str, StringList] = {}
    current: StringList | None = None
    for line, (source, offset) in zip(content, content.items, strict=True):
        if line and not line[0].isspace():
            current = notes.setdefault(line.strip(), StringList())
        elif current is not None:
            current.append(line[3:] if line.startswith("   ") else line.strip(), source, offset)
    return notes


class SettingsDirective(SphinxDirective):
    has_content = True

    def run(self) -> list[nodes.Node]:
        from bkstorages import conf

        notes = parse_notes(self.content)
        extra = class_settings()
        known = {name for option in conf.OPTIONS for name in (option.name, option.setting) if name}
        known |= {setting for settings in extra.values() for setting in settings}
        unknown = sorted(set(notes) - known)
        if unknown:
            raise self.error(f"explanations for options that bkstorages.conf does not have: {', '.join(unknown)}")

        lines = StringList()
        for text in self.summary(conf.OPTIONS, extra):
            lines.append(text, "<bkstorages.conf.OPTIONS>")
        for option in conf.OPTIONS:
            for text in self.section(option, extra.get(option.name, []), notes):
                lines.append(text, "<bkstorages.conf.OPTIONS>")
        container = nodes.container()
        nested_parse_with_titles(self.state, lines, container)
        return container.children

    @staticmethod
    def settings_of(option: Any, extra: list[str]) -> list[str]:
        own = [option.setting] if option.setting else []
        return own + [name for name in extra if name not in own]

    def summary(self, options: Any, extra: dict[str, list[str]]) -> Iterator[str]:
        """One table of every option, each row linking to its section."""
        yield ".. list-table::"
        yield "   :header-rows: 1"
        yield "   :widths: 40 25 15 20"
        yield ""
        yield "   * - Setting and environment variable"
        yield "     - Keyword"
        yield "     - Type"
        yield "     - Default"
        for option in options:
            settings = self.settings_of(option, extra.get(option.name, []))
            names = ", ".join(f":setting:`{name}`" for name in settings) or f":ref:`none <option-{option.name}>`"
            yield f"   * - {names}"
            yield f"     - ``{option.name}``"
            yield f"     - {KIND_NAMES.get(option.kind, option.kind)}"
            yield f"     - {describe_default(option)}"
        yield ""

    def section(self, option: Any, extra: list[str], notes: dict[str, StringList]) -> Iterator[str]:
        settings = self.settings_of(option, extra)
        title = ", ".join(f"``{name}``" for name in settings) or f"``{option.name}``"
        for name in settings:
            yield f".. setting:: {name}"
            yield ""
        yield f".. _option-{option.name}:"
        yield ""
        yield title
        yield "-" * len(title)
        yield ""
        keyword = f"``{option.name}``"
        if option.aliases:
            keyword += " (3.x: " + ", ".join(f"``{alias}``" for alias in option.aliases) + ")"
        where = "Django setting and environment variable" if settings else "keyword or class attribute only"
        facts = [
            f"**Keyword** {keyword}",
            f"**Type** {KIND_NAMES.get(option.kind, option.kind)}",
            f"**Default** {describe_default(option)}",
            f"**Set as** {where}",
        ]
        yield " · ".join(facts)
        yield ""
        yield sentence(option.help)
        if option.secret:
            yield "It never appears in logs, errors, ``repr()``, ``deconstruct()`` or migrations."
        yield ""
        for name in (option.name, *settings):
            yield from notes.get(name, StringList())
            yield ""


def matching_paren(pattern: str, start: int) -> int:
    """The index of the ``)`` closing the group that opens at ``start``."""
    depth = 0
    index = start
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"unbalanced pattern {pattern!r}")


def readable_path(pattern: str) -> str:
    """A route's regular expression as people write paths: ``/generic/{project}/{repo}[/{path}]``."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char in "^$":
            index += 1
        elif char == "\\":
            out.append(pattern[index + 1])
            index += 2
        elif pattern.startswith("(?!", index) or pattern.startswith("(?=", index):
            index = matching_paren(pattern, index) + 1  # a lookahead says which names are taken, not a part
        elif pattern.startswith("(?P<", index):
            end = matching_paren(pattern, index)
            name, _, inner = pattern[index + 4 : end].partition(">")
            out.append("{" + (inner if re.fullmatch(r"[\w|]+", inner) else name) + "}")
            index = end + 1
        elif pattern.startswith("(?:", index):
            end = matching_paren(pattern, index)
            inner = readable_path(pattern[index + 3 : end])
            optional = pattern[end + 1 : end + 2] == "?"
            out.append(f"[{inner}]" if optional else inner)
            index = end + (2 if optional else 1)
        else:
            out.append(char)
            index += 1
    return "".join(out)


def summary_line(function: Any) -> str:
    doc = inspect.getdoc(function) or ""
    return doc.strip().split("\n\n", 1)[0].replace("\n", " ")


class DevServerRoutesDirective(SphinxDirective):
    """The dev server's route table (``bkstorages_contrib.devserver.app.ROUTES``), in the order it is tried."""

    def run(self) -> list[nodes.Node]:
        from bkstorages_contrib.devserver import app

        lines = StringList()
        source = "<bkstorages_contrib.devserver.app.ROUTES>"
        for text in (".. list-table::", "   :header-rows: 1", "   :widths: 35 65", ""):
            lines.append(text, source)
        for text in ("   * - Path", "     - Methods and their handlers"):
            lines.append(text, source)
        for route in app.ROUTES:
            path = f"``{readable_path(route.pattern.pattern)}``"
            if route.cross_origin:
                path += " (any origin may call it, CORS)"
            lines.append(f"   * - {path}", source)
            by_handler: dict[Any, list[str]] = {}
            for method, handler in route.methods.items():
                by_handler.setdefault(handler, []).append(method)
            for number, (handler, methods) in enumerate(by_handler.items()):
                name = f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}"
                summary = summary_line(handler)
                bullet = "     - - " if number == 0 else "       - "
                text = ", ".join(f"``{method}``" for method in methods) + f" ``{name}``"
                lines.append(bullet + text + (f": {summary}" if summary else ""), source)
        lines.append("", source)
        container = nodes.container()
        self.state.nested_parse(lines, self.content_offset, container)
        return container.children


def command_arguments(name: str) -> tuple[Any, list[Any]]:
    """A ``bkstorages_contrib`` command's parser and its own arguments (not the ones every Django command has)."""
    from django.core.management import BaseCommand, load_command_class

    parser = load_command_class("bkstorages_contrib", name).create_parser("manage.py", name)
    common = {
        option for action in BaseCommand().create_parser("manage.py", name)._actions for option in action.option_strings
    }
    own = [action for action in parser._actions if not set(action.option_strings) & common]
    return parser, own


class DjangoCommandDirective(SphinxDirective):
    """``.. django-command:: NAME``: the usage and options of a ``bkstorages_contrib`` management command."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        parser, actions = command_arguments(name)
        source = f"<{name} --help>"
        lines = StringList()
        usage = " ".join(["python manage.py", name, *(self.usage_part(action) for action in actions)])
        lines.append(f"``{usage}``", source)
        lines.append("", source)
        if parser.description:
            lines.append(sentence(parser.description), source)
            lines.append("", source)
        for action in actions:
            names = (
                ", ".join(f"``{option}``" for option in action.option_strings) or f"``{action.metavar or action.dest}``"
            )
            if action.option_strings and action.nargs != 0:
                names += f" *{action.metavar or action.dest.upper()}*"
            lines.append(names, source)
            lines.append(f"   {sentence(action.help or '')}", source)
        lines.append("", source)
        container = nodes.container()
        self.state.nested_parse(lines, self.content_offset, container)
        return container.children

    @staticmethod
    def usage_part(action: Any) -> str:
        if not action.option_strings:
            name = action.metavar or action.dest
            return f"[{name}]" if action.nargs == "?" else name
        option = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
        part = option if action.nargs == 0 else f"{option} {action.metavar or action.dest.upper()}"
        return part if action.required else f"[{part}]"


def python_value(value: Any, indent: int = 0) -> str:
    """A value as a settings file writes it: dictionaries that do not fit a line get one key per line."""
    if not isinstance(value, dict) or len(repr(value)) + indent <= 72:
        return repr(value)
    inner = " " * (indent + 4)
    items = "".join(f"{inner}{key!r}: {python_value(item, indent + 4)},\n" for key, item in value.items())
    return "{\n" + items + " " * indent + "}"


def example_lines(example: dict[str, Any]) -> list[str]:
    """Django settings as a settings file shows them."""
    lines = []
    for name, value in example.items():
        if value is None:
            lines.append(f"# {name} is not set")
        else:
            lines.extend(f"{name} = {python_value(value)}".splitlines())
    return lines


def wrapped(text: str, width: int = 84) -> list[str]:
    """A check's output, each line wrapped as a terminal would, continuation lines indented."""
    lines = []
    for line in text.replace("\t", "    ").splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        lines.extend(textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""])
    return lines


@contextlib.contextmanager
def without_bkrepo_environment() -> Iterator[None]:
    """The checks also read BKREPO_* environment variables: keep the builder's out of the examples."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("BKREPO_")}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


class ChecksDirective(SphinxDirective):
    """Every check of ``bkstorages_contrib.checks.CHECKS``: id, level, problem, and what it says for its example."""

    def run(self) -> list[nodes.Node]:
        import django
        from django.core import checks
        from django.test import override_settings

        from bkstorages_contrib import checks as bkchecks

        source = "<bkstorages_contrib.checks.CHECKS>"
        lines = StringList()

        def add(*texts: str) -> None:
            for text in texts:
                lines.append(text, source)

        for check in bkchecks.CHECKS:
            title = f"``{check.id}``"
            level = "Warning" if issubclass(check.level, checks.Warning) else "Error"
            add(f".. check:: {check.id}", "", title, "-" * len(title), "")
            add(f"**{level}**: {sentence(check.problem)}", "")
            if check.since > (4, 2):
                add(f"Django {check.since[0]}.{check.since[1]} and later only.", "")
            add("For example, with these settings", "", "::", "")
            add(*(f"    {line}" for line in example_lines(check.example)), "")
            if check.since > django.VERSION:
                continue
            with without_bkrepo_environment(), override_settings(**check.settings()):
                messages = [message for message in checks.run_checks(tags=["bkstorages"]) if message.id == check.id]
            if not messages:
                raise self.error(f"the example of {check.id} does not give {check.id}")
            add("``manage.py check`` says", "", "::", "")
            add(*(f"    {line}" for line in wrapped(str(messages[0]))), "")
        container = nodes.container()
        nested_parse_with_titles(self.state, lines, container)
        return container.children


class SoakResultsDirective(SphinxDirective):
    """``.. soak-results:: PATH``: the figures ``bench/soak.py --json PATH`` wrote, as tables."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        import json

        relative, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        try:
            result = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise self.error(f"cannot read the soak figures {self.arguments[0]}: {error}") from error
        source = f"<{self.arguments[0]}>"
        lines = StringList()

        def add(*texts: str) -> None:
            for text in texts:
                lines.append(text, source)

        run = result.get("run", {})
        if run:
            add(
                f"``make soak`` on commit ``{run['commit']}``, {run['date']}: {run['threads']} threads for "
                f"{result['seconds']} s, files of {run['min_size']:,} to {run['max_size']:,} bytes, "
                f"Python {run['python']}, {run['cpus']} cores (load average {run.get('load_average', '?')} "
                "at the end).",
                "",
            )
        errors = sum(result["errors"].values())
        wrong = sum(result["wrong"].values())
        before, after = result["server_before"], result["server_after"]
        add(
            f"{result['total_ops']:,} operations, **{errors}** errors, **{wrong}** wrong answers. "
            f"The dev server held {before['fds']} → {after['fds']} open descriptors and "
            f"{before['rss_kib'] // 1024} → {after['rss_kib'] // 1024} MiB of memory (RSS) before and after.",
            "",
        )
        add(
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - Operation",
            "     - Count",
            "     - p50 ms",
            "     - p99 ms",
        )
        for operation, item in result["operations"].items():
            add(
                f"   * - ``{operation}``",
                f"     - {item['count']:,}",
                f"     - {item['p50_ms']}",
                f"     - {item['p99_ms']}",
            )
        add("")
        for kind, count in sorted({**result["errors"], **result["wrong"]}.items()):
            sample = result.get("error_samples", {}).get(kind, "")
            add(f"- ``{kind}``: {count}" + (f" (e.g. ``{sample}``)" if sample else ""))
        add("")
        container = nodes.container()
        self.state.nested_parse(lines, self.content_offset, container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_crossref_type("setting", "setting", indextemplate="pair: %s; setting")
    app.add_directive("bkstorages-settings", SettingsDirective)
    app.add_directive("devserver-routes", DevServerRoutesDirective)
    app.add_directive("django-command", DjangoCommandDirective)
    app.add_crossref_type("check", "check", indextemplate="pair: %s; system check")
    app.add_directive("bkstorages-checks", ChecksDirective)
    app.add_directive("soak-results", SoakResultsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
