"""The fleet page: one HTML renderer, no script, used twice: by the CloudWatch dashboard's
custom widget (a Lambda returning HTML) and by the local stack at ``/status``.

A table of the models, worst first (error, warming, warm, cold): status and error, next
action, cold-start p50/p95, the month's projected cost, and the day drawn as inline SVG
(windows, spans a copy was held, cold spells, calls, errors, now). Everything a user
wrote (names, ARNs, error texts, holders) is escaped.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from html import escape
from typing import Any, Optional

from chalicelib.fleet import STATUSES, Day, FleetModel, day_events, day_of, read_fleet, summary
from chalicelib.planner import MODEL_ERROR, NOT_READY, READY
from chalicelib.records import parse_iso
from chalicelib.settings import Settings
from chalicelib.store import Store

REFRESH_SECONDS = 5
# Rows drawn with their day (each reads the model's events); the counts cover every model.
MAX_ROWS = 100
WIDTH, HEIGHT = 360, 30
ORDER = {"error": 0, "warming": 1, "warm": 2, "cold": 3}
COLOURS = {"error": "#dc2626", "warming": "#d97706", "warm": "#16a34a", "cold": "#64748b"}

WIDGET_DOCS = """## keepwarm fleet
The keepwarm models of this stack: each one's status (and error), next action, cold-start
p50/p95, this month's projected cost, and its day so far as a timeline: windows (blue),
spans a copy was held (green), cold spells (amber), calls (ticks), errors (red), now (line).
The day is read in the dashboard's time zone. Worst first; the first 100 models are drawn.

No parameters.
"""

STYLE = """
.kw{font:13px/1.4 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1e293b}
.kw h1{font-size:18px;margin:0 0 4px}
.kw .meta{color:#64748b;margin:0 0 10px}
.kw .chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 12px}
.kw .chip{border:1px solid #e2e8f0;border-radius:6px;padding:6px 10px;background:#f8fafc}
.kw .chip b{font-size:16px;display:block}
.kw table{border-collapse:collapse;width:100%}
.kw th{text-align:left;font-weight:600;color:#475569;border-bottom:2px solid #e2e8f0;padding:4px 8px;white-space:nowrap}
.kw td{border-bottom:1px solid #f1f5f9;padding:5px 8px;vertical-align:top}
.kw td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.kw .badge{display:inline-block;border-radius:10px;padding:1px 8px;color:#fff;font-size:12px;font-weight:600}
.kw .why{color:#b91c1c;font-size:12px;max-width:320px;overflow-wrap:anywhere}
.kw .sub{color:#64748b;font-size:12px}
.kw .legend{display:flex;flex-wrap:wrap;gap:12px;color:#475569;font-size:12px;margin:8px 0}
.kw .legend i{display:inline-block;width:14px;height:8px;margin-right:4px;vertical-align:middle}
.kw .errors{border-left:3px solid #dc2626;background:#fef2f2;padding:6px 10px;margin:0 0 12px}
.kw .errors ul{margin:4px 0 0;padding-left:18px}
.kw .empty{color:#64748b;padding:16px 0}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _zone_label(tz: tzinfo, at: datetime) -> str:
    return at.astimezone(tz).tzname() or "UTC"


def _hhmm(at: Optional[datetime], tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%H:%M") if at else ""


def _when(raw: Optional[str], now: datetime, tz: tzinfo) -> str:
    at = parse_iso(raw)
    if at is None:
        return ""
    minutes = round((at - now).total_seconds() / 60)
    rel = "now" if minutes == 0 else (f"in {minutes} min" if minutes > 0 else f"{-minutes} min ago")
    if abs(minutes) >= 120:
        rel = f"in {minutes / 60:.0f} h" if minutes > 0 else f"{-minutes / 60:.0f} h ago"
    day = "" if at.astimezone(tz).date() == now.astimezone(tz).date() else at.astimezone(tz).strftime("%a %d %b ")
    return f"{day}{_hhmm(at, tz)} ({rel})"


def _money(value: Optional[float]) -> str:
    return f"${value:,.2f}" if value is not None else "n/a"


def _seconds(value: Optional[float]) -> str:
    return f"{value:.0f} s" if value is not None else "–"


# -- the timeline ----------------------------------------------------------------------------
def _x(day: Day, at: datetime) -> float:
    span = (day.end - day.start).total_seconds()
    return round(max(0.0, min(1.0, (at - day.start).total_seconds() / span)) * WIDTH, 1)


def _bars(day: Day, spans: list[tuple[datetime, datetime]], y: int, h: int, colour: str, what: str,
          tz: tzinfo) -> list[str]:
    return [f'<rect class="{what}" x="{_x(day, a)}" y="{y}" width="{max(1.0, round(_x(day, b) - _x(day, a), 1))}" '
            f'height="{h}" fill="{colour}" rx="2"><title>{what} {_hhmm(a, tz)}–{_hhmm(b, tz)}</title></rect>'
            for a, b in spans]


def timeline_svg(name: str, day: Day, tz: tzinfo) -> str:
    """The model's day as an SVG strip, with a text summary as its title."""
    parts = [f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#f8fafc"/>']
    for hour in range(6, 24, 6):
        x = _x(day, day.start + timedelta(hours=hour))
        parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{HEIGHT}" stroke="#e2e8f0"/>')
    parts += _bars(day, day.windows, 2, HEIGHT - 4, "#dbeafe", "window", tz)
    parts += _bars(day, day.warm, 9, 10, "#22c55e", "warm", tz)
    parts += _bars(day, day.cold, 9, 10, "#f59e0b", "cold", tz)
    for at, outcome in day.calls:
        colour = "#166534" if outcome in (READY, MODEL_ERROR) else "#b45309" if outcome == NOT_READY else "#dc2626"
        x = _x(day, at)
        parts.append(f'<line class="call" x1="{x}" y1="22" x2="{x}" y2="28" stroke="{colour}"/>')
    for at, reason in day.errors:
        parts.append(f'<circle class="error" cx="{_x(day, at)}" cy="5" r="3" fill="#dc2626">'
                     f'<title>{_e(_hhmm(at, tz))} {_e(reason[:300])}</title></circle>')
    if day.start <= day.now < day.end:
        x = _x(day, day.now)
        parts.append(f'<line class="now" x1="{x}" y1="0" x2="{x}" y2="{HEIGHT}" stroke="#0f172a" '
                     'stroke-width="1.5" stroke-dasharray="3 2"/>')
    title = (f"{name}: {len(day.windows)} window(s), {len(day.warm)} warm span(s), "
             f"{len(day.cold)} cold spell(s), {len(day.calls)} call(s), {len(day.errors)} error(s)")
    return (f'<svg class="timeline" data-model="{_e(name)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
            f'<title>{_e(title)}</title>{"".join(parts)}</svg>')


def _axis(day: Day, tz: tzinfo) -> str:
    labels = []
    for hour in range(0, 25, 6):
        x = min(WIDTH - 14, max(0.0, _x(day, day.start + timedelta(hours=hour)) - 6))
        labels.append(f'<text x="{x}" y="10" font-size="10" fill="#64748b">{hour:02d}</text>')
    return (f'<svg width="{WIDTH}" height="12" viewBox="0 0 {WIDTH} 12" aria-hidden="true">'
            f'{"".join(labels)}</svg>')


# -- the page --------------------------------------------------------------------------------
def _row(entry: FleetModel, day: Day, now: datetime, tz: tzinfo) -> str:
    shown, state = entry.shown, entry.shown["state"]
    status = entry.status
    badge = (f'<span class="badge status" style="background:{COLOURS.get(status, "#64748b")}">'
             f'{_e(status)}</span>')
    if not shown["enabled"]:
        badge += ' <span class="sub">paused</span>'
    if state.get("ready") and status == "warm":
        badge += ' <span class="sub">ready</span>'
    why = f'<div class="why">{_e(state["error"][:400])}</div>' if state.get("error") else ""
    action = state.get("next_action")
    next_cell = (f'{_e(action["kind"])}<div class="sub">{_e(_when(action["at"], now, tz))}</div>'
                 if action else '<span class="sub">none</span>')
    cold = state.get("cold_starts") or {}
    cost = (_money(entry.month_cost) if entry.month_cost is not None
            else f'<span class="sub" title="{_e(entry.cost_note or "")}">n/a</span>')
    holders = [lease.get("holder") or lease.get("id") for lease in state.get("leases") or []]
    leased = f'<div class="sub">leased by {_e(", ".join(str(h) for h in holders)[:200])}</div>' if holders else ""
    return (f'<tr data-model="{_e(entry.name)}" data-status="{_e(status)}">'
            f'<td><b class="name">{_e(entry.name)}</b><div class="sub">{_e(entry.model.config.region)}</div>'
            f'{leased}</td>'
            f'<td>{badge}{why}</td><td>{next_cell}</td>'
            f'<td class="num">{_seconds(cold.get("p50_seconds"))} / {_seconds(cold.get("p95_seconds"))}'
            f'<div class="sub">{_e(cold.get("count", 0))} measured</div></td>'
            f'<td class="num">{cost}</td><td>{timeline_svg(entry.name, day, tz)}</td></tr>')


def render(fleet: list[FleetModel], days: dict[str, Day], now: datetime, tz: tzinfo = timezone.utc,
           shown_rows: int = MAX_ROWS) -> str:
    """The page's body (a ``<div>``): pure, from the fleet as read and each drawn model's day."""
    facts = summary(fleet, now)
    zone = _zone_label(tz, now)
    chips = [f'<div class="chip" data-count="models"><b>{facts["models"]}</b>models</div>']
    chips += [f'<div class="chip" data-count="{s}"><b style="color:{COLOURS[s]}">{facts["counts"][s]}</b>{s}</div>'
              for s in STATUSES]
    cost = facts["cost"]
    chips.append(f'<div class="chip" data-count="cost"><b>{_money(cost["projected"])}</b>projected for '
                 f'{_e(cost["month"])} ({cost["models_priced"]} of {facts["models"]} priced)</div>')
    errors = ""
    if facts["errors"]:
        items = "".join(f'<li><b>{_e(e["name"])}</b>: {_e((e["error"] or "")[:400])}</li>' for e in facts["errors"][:20])
        errors = f'<div class="errors"><b>{len(facts["errors"])} in error</b><ul>{items}</ul></div>'
    ordered = sorted(fleet, key=lambda entry: (ORDER.get(entry.status, 9), entry.name))[:shown_rows]
    if ordered:
        first = days[ordered[0].name]
        rows = "".join(_row(entry, days[entry.name], now, tz) for entry in ordered)
        table = ('<table><thead><tr><th>model</th><th>status</th><th>next action</th>'
                 '<th>cold start p50 / p95</th><th>projected this month</th>'
                 f'<th>today ({_e(zone)})<div>{_axis(first, tz)}</div></th></tr></thead><tbody>{rows}</tbody></table>')
    else:
        table = '<p class="empty">No models registered yet: POST /models (see the README).</p>'
    more = (f'<p class="sub">Showing {len(ordered)} of {len(fleet)} models, worst first.</p>'
            if len(ordered) < len(fleet) else "")
    legend = ('<div class="legend"><span><i style="background:#dbeafe"></i>window</span>'
              '<span><i style="background:#22c55e"></i>held warm</span>'
              '<span><i style="background:#f59e0b"></i>cold start</span>'
              '<span><i style="background:#166534;width:2px"></i>call</span>'
              '<span><i style="background:#dc2626;width:8px;border-radius:4px"></i>error</span>'
              '<span><i style="border-left:2px dashed #0f172a;width:0"></i>now</span></div>')
    return (f'<div class="kw"><style>{STYLE}</style>'
            f'<p class="meta">Updated {now.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")} {_e(zone)}</p>'
            f'<div class="chips">{"".join(chips)}</div>{errors}{table}{more}{legend}</div>')


def gather(store: Store, settings: Settings, now: datetime, tz: tzinfo,
           rows: int = MAX_ROWS) -> tuple[list[FleetModel], dict[str, Day]]:
    """The fleet as read now, and the day (in ``tz``) of each model the page draws."""
    fleet = read_fleet(store, settings, now)
    local = now.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
    end = (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(timezone.utc)
    drawn = sorted(fleet, key=lambda entry: (ORDER.get(entry.status, 9), entry.name))[:rows]
    days = {entry.name: day_of(entry.model, day_events(store, entry.name, start, entry.model.incarnation), start, end, now, entry.status)
            for entry in drawn}
    return fleet, days


def render_page(store: Store, settings: Settings, now: datetime, *, refresh_seconds: Optional[int] = None,
                tz: tzinfo = timezone.utc) -> str:
    """The whole HTML document (``/status``), refreshing itself every ``refresh_seconds``."""
    fleet, days = gather(store, settings, now, tz)
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}'
            '<title>keepwarm fleet</title></head><body style="margin:16px">'
            '<div class="kw"><h1>keepwarm fleet</h1></div>'
            f'{render(fleet, days, now, tz)}</body></html>')


def widget_zone(event: Any) -> tzinfo:
    """The dashboard's time zone, as the widget's call gives it (``widgetContext.timezone``,
    a label and an offset such as ``+08:00``), else UTC."""
    try:
        zone = event["widgetContext"]["timezone"]
        match = re.fullmatch(r"([+-])(\d\d):(\d\d)", str(zone["offsetISO"]))
        label = str(zone.get("label") or "")[:40] or None
    except (KeyError, TypeError):
        return timezone.utc
    if match is None:
        return timezone.utc
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    if not offset or abs(offset) > timedelta(hours=14):
        return timezone.utc
    return timezone(offset, label)


def render_widget(store: Store, settings: Settings, now: datetime, event: Any) -> str:
    """The custom widget's answer: the page's body, no document around it (the console
    embeds it), the day read in the dashboard's time zone."""
    tz = widget_zone(event)
    fleet, days = gather(store, settings, now, tz)
    return render(fleet, days, now, tz)
