"""Time zones and dates as bk-repo reads and writes them."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import zoneinfo

OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")
HOURS = re.compile(r"([+-]?)(\d+(?:\.\d+)?)")


def parse_zone(text: str | None) -> dt.tzinfo | None:
    """A zone from ``X-BKREPO-Time-Zone``: an id, ``+08:00``/``+0800``/``Z``, or hours like ``8.5``."""
    if not text or not text.strip():
        return None
    text = text.strip()
    with contextlib.suppress(Exception):
        if text.upper() in {"UTC", "GMT", "Z"}:
            return dt.timezone.utc
        return zoneinfo.ZoneInfo(text)
    match = OFFSET.fullmatch(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        hours, minutes, seconds = (int(match.group(i) or 0) for i in (2, 3, 4))
        if hours <= 18 and minutes < 60 and seconds < 60:
            return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes, seconds=seconds))
    match = HOURS.fullmatch(text)
    if match:
        hours_f = float(match.group(2)) * (-1 if match.group(1) == "-" else 1)
        if abs(hours_f) <= 18:
            return dt.timezone(dt.timedelta(seconds=int(hours_f * 3600)))
    return None


def zone_offset(zone: dt.tzinfo) -> str:
    """``+HHMM`` for the zone's current offset."""
    offset = dt.datetime.now(zone).utcoffset() or dt.timedelta(0)
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 3600:02d}{total % 3600 // 60:02d}"


def iso_local(ms: int | None, zone: dt.tzinfo) -> str | None:
    """Java's ``ISO_DATE_TIME`` of a ``LocalDateTime``: no zone, fraction trimmed."""
    if ms is None:
        return None
    moment = dt.datetime.fromtimestamp(ms // 1000, zone).replace(tzinfo=None)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = ms % 1000
    if millis:
        text += "." + f"{millis:03d}".rstrip("0")
    return text
