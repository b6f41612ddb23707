"""The fleet page: one HTML renderer used twice: by the CloudWatch dashboard's custom widget
(a Lambda returning HTML) and by the local stack at ``/status`` (a whole document, with a
small script that refreshes it in place).

Above, the fleet's figures (counts by status, the month's projected cost, the readiness of
recent windows when recorded) and which models are in error. Then one block per model,
worst first (error, warming, warm, cold): its status, its zone and the time there, why it
is warm or warming (a window, a lease and its holder, an override) and until when, or when
it next will be; its error (shown here only); the readiness of its recent windows; a
timeline of the hours around now at four pixels a minute and its whole day, both in the
model's zone; and, folded, the details (next action, cold starts, cost, leases).

Everything a user wrote (names, ARNs, error texts, holders) is escaped: it is only ever
text or an attribute's value, never markup.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from html import escape
from typing import Any, Optional
from urllib.parse import quote
from zoneinfo import ZoneInfo

from chalicelib.fleet import STATUSES, Day, FleetModel, day_events, day_of, read_fleet, summary
from chalicelib.planner import MODEL_ERROR, NOT_READY, PLANNING_ERRORS, READY, prewarm_lead
from chalicelib.records import Model, parse_iso
from chalicelib.settings import Settings
from chalicelib.storage import Store
from chalicelib.timeline import current_window, next_hold
from chalicelib.views import view

REFRESH_SECONDS = 5
MODELS_PER_SECOND = 100  # of the refresh interval, past 500 models
# Models drawn with their timelines (each reads the model and its events); the figures
# above cover every model.
MAX_ROWS = 100
# Rows' models and events are read this many at once.
READERS = 8
ORDER = {"error": 0, "warming": 1, "warm": 2, "cold": 3}
COLOURS = {"error": "#dc2626", "warming": "#d97706", "warm": "#16a34a", "cold": "#64748b"}
# The timeline around now: from BEFORE to AFTER, at PX_PER_MINUTE (readable: a keep-alive
# every 14 minutes is 56 px apart).
BEFORE, AFTER = timedelta(minutes=45), timedelta(minutes=75)
PX_PER_MINUTE = 4
WIDTH = int((BEFORE + AFTER).total_seconds() / 60 * PX_PER_MINUTE)  # 480: fits a 600 px screen
HEIGHT = 34
DAY_HEIGHT = 16
RECENT_WINDOWS = 14

WIDGET_DOCS = """## keepwarm fleet
The keepwarm models of this stack, worst first: each one's status, its zone and the time
there, why it is warm or warming (its window, a lease and who holds it, an override) and
until when, its error, the readiness of its recent windows, and a timeline of the two hours
around now (windows blue, copy held green, cold starts amber, leases violet, calls as ticks,
errors red, now dashed) above its whole day, both in the model's zone. The figures at the
top cover every model; the first 100 are drawn.

No parameters.
"""

STYLE = """
.kw{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1e293b;max-width:1100px}
.kw *{box-sizing:border-box}
.kw h1{font-size:20px;margin:0 0 2px}
.kw .meta{color:#64748b;margin:0 0 10px;font-size:13px}
.kw .chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 12px}
.kw .chip{border:1px solid #e2e8f0;border-radius:6px;padding:5px 10px;background:#f8fafc;font-size:13px}
.kw .chip b{font-size:17px;display:block}
.kw .banner{border-left:4px solid #dc2626;background:#fef2f2;padding:6px 10px;margin:0 0 12px}
.kw .banner a{color:#991b1b;margin-right:8px;overflow-wrap:break-word}
.kw .model{border:1px solid #e2e8f0;border-left:4px solid #64748b;border-radius:6px;padding:8px 12px;margin:0 0 10px;
 display:flex;flex-wrap:wrap;gap:6px 24px;align-items:flex-start}
.kw .facts{flex:1 1 300px;min-width:0}
.kw .strips{flex:0 1 480px;min-width:0;max-width:100%}
.kw .strips svg{display:block;max-width:100%;height:auto}
.kw .head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 10px}
.kw .name{font-size:15px;overflow-wrap:break-word;min-width:0}
.kw .badge{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px;font-weight:600}
.kw .zone{color:#475569;font-size:13px}
.kw .why{margin:4px 0 0}
.kw .error{margin:6px 0 0;color:#991b1b;background:#fef2f2;border-radius:4px;padding:4px 8px;font-size:13px;
 overflow-wrap:break-word;white-space:pre-wrap}
.kw .ready{margin:4px 0 0;font-size:13px;color:#334155}
.kw .ready svg{vertical-align:middle;margin-left:6px}
.kw .sub{color:#64748b;font-size:12px}
.kw details{margin:6px 0 0;font-size:13px}
.kw summary{cursor:pointer;color:#334155}
.kw dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px;margin:6px 0 0}
.kw dt{color:#64748b}
.kw dd{margin:0;overflow-wrap:break-word;min-width:0}
.kw .legend{display:flex;flex-wrap:wrap;gap:4px 12px;color:#475569;font-size:12px;margin:8px 0}
.kw .legend i{display:inline-block;width:14px;height:8px;margin-right:4px;vertical-align:middle}
.kw .empty{color:#64748b;padding:16px 0}
"""

FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
               '<circle cx="16" cy="16" r="15" fill="#16a34a"/>'
               '<path d="M16 6v10l7 4" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round"/></svg>')

# Refreshes the page in place: fetch it again, swap the fleet's block, keep the scroll
# position and the open details; a reload (or a visit later in the tab) puts both back
# from sessionStorage. The fetched page is this service's own; nothing in it runs.
SCRIPT = """(function(){
var key='keepwarm:'+location.pathname,every=+document.body.getAttribute('data-refresh')||0;
function opened(){return Array.prototype.map.call(document.querySelectorAll('details[open][data-key]'),function(d){return d.getAttribute('data-key')})}
function reopen(keys){Array.prototype.forEach.call(document.querySelectorAll('details[data-key]'),function(d){if(keys.indexOf(d.getAttribute('data-key'))>=0)d.open=true})}
function save(){try{sessionStorage.setItem(key,JSON.stringify({y:window.scrollY,open:opened()}))}catch(e){}}
try{var kept=JSON.parse(sessionStorage.getItem(key)||'null');if(kept){reopen(kept.open||[]);window.scrollTo(0,kept.y||0)}}catch(e){}
addEventListener('pagehide',save);addEventListener('scroll',save,{passive:true});document.addEventListener('toggle',save,true);
function refresh(){fetch(location.href,{cache:'no-store',credentials:'same-origin'}).then(function(r){if(!r.ok)throw new Error('HTTP '+r.status);return r.text()}).then(function(text){
var fresh=new DOMParser().parseFromString(text,'text/html').getElementById('kw'),old=document.getElementById('kw');
if(!fresh||!old)return;var keys=opened(),y=window.scrollY;old.replaceWith(document.adoptNode(fresh));reopen(keys);window.scrollTo(0,y);save();
}).catch(function(err){var note=document.getElementById('kw-stale');if(note)note.textContent=' (not refreshed: '+err.message+')'}).then(function(){setTimeout(refresh,every*1000)})}
if(every>0)setTimeout(refresh,every*1000);
})();"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _zone_label(tz: tzinfo, at: datetime) -> str:
    return at.astimezone(tz).tzname() or "UTC"


def _hhmm(at: Optional[datetime], tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%H:%M") if at else ""


def _relative(at: datetime, now: datetime) -> str:
    minutes = round((at - now).total_seconds() / 60)
    if minutes == 0:
        return "now"
    if abs(minutes) >= 120:
        hours = abs(minutes) / 60
        text = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
    else:
        text = f"{abs(minutes)} min"
    return f"in {text}" if minutes > 0 else f"{text} ago"


def _when(at: Optional[datetime], now: datetime, tz: tzinfo) -> str:
    """``14:05 (in 12 min)``, with the day when it is not today in ``tz``."""
    if at is None:
        return ""
    local = at.astimezone(tz)
    day = "" if local.date() == now.astimezone(tz).date() else local.strftime("%a %d %b ")
    return f"{day}{local.strftime('%H:%M')} ({_relative(at, now)})"


def _money(value: Optional[float]) -> str:
    return f"${value:,.2f}" if value is not None else "n/a"


def _seconds(value: Optional[float]) -> str:
    return f"{value:.0f} s" if value is not None else "–"


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return timezone.utc


# -- one model's row: what the page knows of it ----------------------------------------------
@dataclass(frozen=True)
class Row:
    entry: FleetModel
    model: Model
    shown: dict[str, Any]  # as GET /models/{model} shows it
    near: Day  # the hours around now
    day: Day  # the model's day, in its zone


def why(model: Model, now: datetime, settings: Settings) -> tuple[list[str], Optional[str]]:
    """Why the model is (or is made) warm now, each reason with its own end, and until when
    it is held in all (when no reason already says it); or, when nothing holds it, when
    something next will."""
    config, state = model.config, model.state
    tz = _zone(config.timezone)
    if not config.enabled:
        return ["paused: never called until resumed"], None
    reasons: list[str] = []
    ends: list[datetime] = []
    cold = state.override if state.override and state.override.state == "cold" and now < state.override.until else None
    if cold is not None:
        reasons.append(f"cold override until {_when(cold.until, now, tz)}: nothing is called before then")
    try:
        window = current_window(config, now)
        hold = next_hold(config, state, now, prewarm_lead(config, state, settings))
    except PLANNING_ERRORS:
        return reasons, None
    if window is not None and cold is None:
        reasons.append(f"window {_hhmm(window.open, tz)}–{_hhmm(window.close, tz)}")
    for lease in state.leases:
        if lease.expires_at > now and cold is None:
            holder = f"lease held by {lease.holder}" if lease.holder else f"lease {lease.id}"
            reasons.append(f"{holder} until {_when(lease.expires_at, now, tz)}")
            ends.append(lease.expires_at)
    warm = state.override if state.override and state.override.state == "warm" and now < state.override.until else None
    if warm is not None:
        reasons.append(f"warm override until {_when(warm.until, now, tz)}")
        ends.append(warm.until)
    if hold is None:
        return reasons, None if reasons else "nothing holds it: no window, lease or override ahead"
    if hold.start <= now < hold.open and hold.source == "window":
        reasons.append(f"pre-warm for the window opening {_when(hold.open, now, tz)}")
    if hold.start <= now:
        if not hold.cut and len(reasons) == 1 and hold.close in ends:
            return reasons, None  # its one reason says until when
        ends_at = f"at least {_when(hold.close, now, tz)}" if hold.cut else _when(hold.close, now, tz)
        return reasons, f"held warm until {ends_at}"
    what = {"window": "window", "lease": "lease", "override": "warm override"}.get(hold.source, hold.source)
    return reasons, f"next {what} opens {_when(hold.open, now, tz)}; first call {_when(hold.start, now, tz)}"


def _told(status: str, reasons: list[str], until: Optional[str], action: Optional[dict[str, Any]], now: datetime,
          tz: tzinfo) -> str:
    """The model's line: its status in words, why, and until when."""
    if status == "error":
        # Whatever holds it, a model in error is called again only at its next action.
        nxt = (f"next call ({action['kind']}) {_when(parse_iso(action['at']), now, tz)}" if action
               else "no call planned")
        return "; ".join(["In error", *reasons, nxt])
    lead = {"warm": "Warm", "warming": "Warming", "cold": "Cold"}.get(status, status)
    said = "; ".join(reasons + ([until] if until else []))
    return f"{lead}: {said}" if said else lead


# -- the timelines ---------------------------------------------------------------------------
class _Scale:
    def __init__(self, day: Day, width: int):
        self.start, self.seconds, self.width = day.start, (day.end - day.start).total_seconds(), width

    def x(self, at: datetime) -> float:
        share = (at - self.start).total_seconds() / self.seconds
        return round(max(0.0, min(1.0, share)) * self.width, 1)


def _bars(scale: _Scale, spans: list[tuple[datetime, datetime]], y: float, h: float, colour: str, what: str,
          tz: tzinfo) -> list[str]:
    return [f'<rect class="{what}" x="{scale.x(a)}" y="{y}" width="{max(1.0, round(scale.x(b) - scale.x(a), 1))}" '
            f'height="{h}" fill="{colour}" rx="2"><title>{what} {_hhmm(a, tz)}–{_hhmm(b, tz)}</title></rect>'
            for a, b in spans]


def _shapes(day: Day, scale: _Scale, height: int, tz: tzinfo, marks: bool) -> list[str]:
    parts = _bars(scale, day.windows, 2, height - 4, "#dbeafe", "window", tz)
    parts += _bars(scale, day.leases, height - 6, 3, "#8b5cf6", "lease", tz)
    parts += _bars(scale, day.overrides, height - 6, 3, "#0d9488", "override", tz)
    parts += _bars(scale, day.warm, height * 0.3, height * 0.3, "#22c55e", "warm", tz)
    parts += _bars(scale, day.cold, height * 0.3, height * 0.3, "#f59e0b", "cold", tz)
    if marks:
        for at, outcome in day.calls:
            colour = "#166534" if outcome in (READY, MODEL_ERROR) else "#b45309" if outcome == NOT_READY else "#dc2626"
            x = scale.x(at)
            parts.append(f'<line class="call" x1="{x}" y1="{height * 0.65}" x2="{x}" y2="{height * 0.85}" '
                         f'stroke="{colour}" stroke-width="1.5"><title>call {_hhmm(at, tz)}: {_e(outcome)}</title></line>')
    for at, reason in day.errors:
        parts.append(f'<circle class="error" cx="{scale.x(at)}" cy="5" r="3.5" fill="#dc2626">'
                     f'<title>{_e(_hhmm(at, tz))} {_e(reason[:300])}</title></circle>')
    if day.start <= day.now < day.end:
        x = scale.x(day.now)
        parts.append(f'<line class="now" x1="{x}" y1="0" x2="{x}" y2="{height}" stroke="#0f172a" '
                     'stroke-width="1.5" stroke-dasharray="3 2"/>')
    return parts


def timeline_svg(name: str, day: Day, tz: tzinfo) -> str:
    """The hours around now, at ``PX_PER_MINUTE``, with a time every quarter hour (in the
    model's zone) under the strip."""
    scale = _Scale(day, WIDTH)
    parts = [f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#f8fafc"/>']
    ticks = []
    first = day.start.astimezone(tz)
    mark = first.replace(minute=first.minute - first.minute % 15, second=0, microsecond=0)
    while mark <= day.end:
        if mark >= day.start:
            x = scale.x(mark)
            parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{HEIGHT}" stroke="#e2e8f0"/>')
            if 16 <= x <= WIDTH - 16:
                ticks.append(f'<text x="{x}" y="{HEIGHT + 12}" font-size="10" fill="#64748b" '
                             f'text-anchor="middle">{mark.strftime("%H:%M")}</text>')
        mark += timedelta(minutes=15)
    parts += _shapes(day, scale, HEIGHT, tz, marks=True)
    title = (f"{name}: {_hhmm(day.start, tz)}–{_hhmm(day.end, tz)}, {len(day.windows)} window(s), "
             f"{len(day.warm)} warm span(s), {len(day.cold)} cold start(s), {len(day.calls)} call(s), "
             f"{len(day.errors)} error(s)")
    return (f'<svg class="timeline" data-model="{_e(name)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{HEIGHT + 16}" viewBox="0 0 {WIDTH} {HEIGHT + 16}" role="img">'
            f'<title>{_e(title)}</title>{"".join(parts)}{"".join(ticks)}</svg>')


def day_svg(name: str, day: Day, near: Day, tz: tzinfo) -> str:
    """The model's whole day (midnight to midnight in its zone), the span drawn above
    outlined, with the hours under it."""
    scale = _Scale(day, WIDTH)
    parts = [f'<rect x="0" y="0" width="{WIDTH}" height="{DAY_HEIGHT}" fill="#f8fafc"/>']
    parts += _shapes(day, scale, DAY_HEIGHT, tz, marks=False)
    a, b = scale.x(near.start), scale.x(near.end)
    parts.append(f'<rect class="zoom" x="{a}" y="0.5" width="{max(1.0, round(b - a, 1))}" height="{DAY_HEIGHT - 1}" '
                 'fill="none" stroke="#0f172a" stroke-opacity="0.45"/>')
    for hour in range(0, 25, 3):
        x = scale.x(day.start + timedelta(hours=hour))
        anchor = "start" if hour == 0 else "end" if hour == 24 else "middle"
        parts.append(f'<text x="{x}" y="{DAY_HEIGHT + 11}" font-size="10" fill="#64748b" '
                     f'text-anchor="{anchor}">{hour:02d}</text>')
    return (f'<svg class="day" data-model="{_e(name)}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="{DAY_HEIGHT + 14}" viewBox="0 0 {WIDTH} {DAY_HEIGHT + 14}" role="img">'
            f'<title>{_e(name)}: its day, {_e(day.start.astimezone(tz).strftime("%a %d %b"))}</title>'
            f'{"".join(parts)}</svg>')


# -- readiness (recorded per window opening, when the service keeps the records) -------------
def _readiness_line(readiness: Any, tz: tzinfo) -> str:
    """'Ready at 5 of 6 openings in 7 days' and a square per recent window (newest last);
    nothing when no readiness was recorded."""
    if not isinstance(readiness, dict):
        return ""
    summary_ = readiness.get("summary") if isinstance(readiness.get("summary"), dict) else readiness
    openings, ready = summary_.get("openings"), summary_.get("ready_at_open")
    if not isinstance(openings, int) or not isinstance(ready, int):
        return ""
    text = f"ready at {ready} of {openings} opening{'s' if openings != 1 else ''} in {int(summary_.get('days') or 7)} days"
    share = summary_.get("verified_share")
    if isinstance(share, (int, float)):
        text += f", verified warm {share * 100:.0f}% of window time"
    late = summary_.get("late_seconds_max")
    if isinstance(late, (int, float)) and late > 0:
        text += f", at worst {late:.0f} s late"
    recent = [r for r in readiness.get("recent") or [] if isinstance(r, dict)][:RECENT_WINDOWS][::-1]
    squares = []
    for i, record in enumerate(recent):
        opened = parse_iso(record.get("window_open")) if isinstance(record.get("window_open"), str) else None
        late_s = record.get("late_seconds")
        if record.get("ready_at_open"):
            colour, said = "#16a34a", "ready at the open"
        elif isinstance(late_s, (int, float)):
            colour, said = "#d97706", f"{late_s:.0f} s late"
        else:
            colour, said = "#dc2626", "never verified warm"
        share_r = record.get("verified_share")
        said += f", {share_r * 100:.0f}% verified warm" if isinstance(share_r, (int, float)) else ""
        when = opened.astimezone(tz).strftime("%a %d %b %H:%M") if opened else "?"
        squares.append(f'<rect class="opening" x="{i * 12}" y="0" width="10" height="10" rx="2" fill="{colour}">'
                       f'<title>{_e(when)}: {_e(said)}</title></rect>')
    strip = (f'<svg class="openings" width="{len(squares) * 12}" height="10" viewBox="0 0 {len(squares) * 12} 10" '
             f'role="img">{"".join(squares)}</svg>' if squares else "")
    return f'<p class="ready">{_e(text)}{strip}</p>'


# -- the page --------------------------------------------------------------------------------
def _anchor(name: str) -> str:
    return "m-" + quote(name, safe="")


def _row(row: Row, now: datetime, settings: Settings) -> str:
    entry, model, shown = row.entry, row.model, row.shown
    state = shown["state"]
    status = entry.status
    tz = _zone(model.config.timezone)
    badge = f'<span class="badge status" style="background:{COLOURS.get(status, "#64748b")}">{_e(status)}</span>'
    tags = []
    if not entry.enabled:
        tags.append("paused")
    if state.get("ready") and status == "warm":
        tags.append("ready")
    zone = f'{_e(model.config.timezone)}, {_e(now.astimezone(tz).strftime("%H:%M"))} there'
    action = state.get("next_action")
    told = _told(status, *why(model, now, settings), action, now, tz)
    error = f'<p class="error">{_e(entry.error)}</p>' if entry.error else ""
    cold = state.get("cold_starts") or {}
    cost = (_money(entry.month_cost) if entry.month_cost is not None else f"n/a: {_e(entry.cost_note or '')}")
    leases = "".join(f'<dd>{_e(lease.get("holder") or lease["id"])} until '
                     f'{_e(_when(parse_iso(lease["expires_at"]), now, tz))}</dd>' for lease in state.get("leases") or [])
    details = (f'<details data-key="{_e(model.name)}"><summary>details</summary><dl>'
               f'<dt>next action</dt><dd>{_e(action["kind"]) + " " + _e(_when(parse_iso(action["at"]), now, tz)) if action else "none"}</dd>'
               f'<dt>cold start</dt><dd>p50 {_seconds(cold.get("p50_seconds"))}, p95 {_seconds(cold.get("p95_seconds"))} '
               f'({_e(cold.get("count", 0))} measured)</dd>'
               f'<dt>keep-alive</dt><dd>every {_e(state.get("keepalive_minutes_in_force"))} min</dd>'
               f'<dt>this month</dt><dd>{cost}</dd>'
               f'<dt>last success</dt><dd>{_e(_when(parse_iso(state.get("last_success_at")), now, tz)) or "never"}</dd>'
               f'{"<dt>leases</dt>" + leases if leases else ""}'
               f'<dt>region</dt><dd>{_e(model.config.region)}</dd>'
               f'<dt>ARN</dt><dd>{_e(model.config.model_arn)}</dd></dl></details>')
    return (f'<div class="model" id="{_e(_anchor(model.name))}" data-model="{_e(model.name)}" data-status="{_e(status)}" '
            f'style="border-left-color:{COLOURS.get(status, "#64748b")}">'
            f'<div class="facts"><div class="head"><b class="name">{_e(model.name)}</b>{badge}'
            f'{"".join(f"<span class=sub>{t}</span>" for t in tags)}<span class="zone">{zone}</span></div>'
            f'<p class="why">{_e(told)}</p>{error}'
            f'{_readiness_line(shown.get("readiness"), tz)}{details}</div>'
            f'<div class="strips">{timeline_svg(model.name, row.near, tz)}{day_svg(model.name, row.day, row.near, tz)}'
            f'</div></div>')


LEGEND = ('<div class="legend"><span><i style="background:#dbeafe"></i>window</span>'
          '<span><i style="background:#22c55e"></i>copy held</span>'
          '<span><i style="background:#f59e0b"></i>cold start</span>'
          '<span><i style="background:#8b5cf6;height:3px"></i>lease</span>'
          '<span><i style="background:#0d9488;height:3px"></i>warm override</span>'
          '<span><i style="background:#166534;width:2px"></i>call</span>'
          '<span><i style="background:#dc2626;width:8px;border-radius:4px"></i>error</span>'
          '<span><i style="border-left:2px dashed #0f172a;width:0"></i>now</span></div>')


def render(fleet: list[FleetModel], rows: list[Row], now: datetime, settings: Settings,
           tz: tzinfo = timezone.utc, facts: Optional[dict[str, Any]] = None) -> str:
    """The page's body (a ``<div id="kw">``): pure, from the fleet as read and the rows drawn."""
    facts = facts if facts is not None else summary(fleet, now)
    chips = [f'<div class="chip" data-count="models"><b>{facts["models"]}</b>models</div>']
    chips += [f'<div class="chip" data-count="{s}"><b style="color:{COLOURS[s]}">{facts["counts"][s]}</b>{s}</div>'
              for s in STATUSES]
    cost = facts["cost"]
    chips.append(f'<div class="chip" data-count="cost"><b>{_money(cost["projected"])}</b>projected for '
                 f'{_e(cost["month"])} ({cost["models_priced"]} of {facts["models"]} priced)</div>')
    readiness = facts.get("readiness")
    if isinstance(readiness, dict) and isinstance(readiness.get("openings"), int) and readiness["openings"]:
        chips.append(f'<div class="chip" data-count="readiness"><b>{_e(readiness.get("ready_at_open"))} of '
                     f'{_e(readiness["openings"])}</b>openings ready in {_e(readiness.get("days", 7))} days</div>')
    drawn = {row.entry.name for row in rows}
    banner = ""
    if facts["errors"]:
        # Names only: each error's text is shown once, in its model's block.
        links = "".join(f'<a href="#{_e(_anchor(e["name"]))}">{_e(e["name"])}</a>' if e["name"] in drawn
                        else f'<span>{_e(e["name"])}</span>' for e in facts["errors"][:50])
        more = f' and {len(facts["errors"]) - 50} more' if len(facts["errors"]) > 50 else ""
        banner = (f'<div class="banner"><b>{len(facts["errors"])} in error</b> (why: in each model below): '
                  f'{links}{_e(more)}</div>')
    if rows:
        body = "".join(_row(row, now, settings) for row in rows)
    else:
        body = '<p class="empty">No models registered yet: POST /models (see the README).</p>'
    shown = (f'<p class="sub">Showing {len(rows)} of {len(fleet)} models, worst first.</p>'
             if len(rows) < len(fleet) else "")
    return (f'<div class="kw" id="kw"><style>{STYLE}</style>'
            f'<p class="meta">Updated {now.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")} {_e(_zone_label(tz, now))}'
            f'<span id="kw-stale"></span>. Each model\'s times are in its own zone.</p>'
            f'<div class="chips">{"".join(chips)}</div>{banner}{LEGEND}{body}{shown}</div>')


def worst_first(fleet: list[FleetModel]) -> list[FleetModel]:
    return sorted(fleet, key=lambda entry: (ORDER.get(entry.status, 9), entry.name))


def row_of(entry: FleetModel, model: Model, events: list[dict[str, Any]], now: datetime, settings: Settings) -> Row:
    """A drawn model's row, from the model and its recent events."""
    tz = _zone(model.config.timezone)
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight.astimezone(timezone.utc)
    end = (midnight + timedelta(days=1)).astimezone(timezone.utc)
    shown = view(model, now, settings)
    status = shown["state"]["status"]
    return Row(entry, model, shown, day_of(model, events, now - BEFORE, now + AFTER, now, status),
               day_of(model, events, start, end, now, status))


def gather(store: Store, settings: Settings, now: datetime, rows: int = MAX_ROWS) -> tuple[list[FleetModel], list[Row]]:
    """The fleet as read now, and the rows drawn: the worst ``rows`` models, each read whole
    with its events (several at once)."""
    fleet = read_fleet(store, settings, now)
    drawn = worst_first(fleet)[:rows]
    models = store.find_many([entry.name for entry in drawn])

    def read(entry: FleetModel) -> Optional[Row]:
        model = models.get(entry.name)
        if model is None:
            return None  # deleted since the fleet was read
        since = min(now - BEFORE, now - timedelta(days=1))
        return row_of(entry, model, day_events(store, entry.name, since, model.incarnation), now, settings)

    with ThreadPoolExecutor(READERS) as pool:
        found = [row for row in pool.map(read, drawn) if row is not None]
    return fleet, found


def favicon_link() -> str:
    return f'<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,{quote(FAVICON_SVG)}">'


def render_page(store: Store, settings: Settings, now: datetime, *, refresh_seconds: Optional[int] = None,
                tz: tzinfo = timezone.utc) -> str:
    """The whole HTML document (``/status``), refreshing itself in place every
    ``refresh_seconds`` (without script, by reloading)."""
    fleet, rows = gather(store, settings, now)
    # Each view reads every model's glance (DynamoDB charges the whole item): a large fleet's
    # page refreshes less often, a second per hundred models.
    every = max(refresh_seconds, len(fleet) // MODELS_PER_SECOND) if refresh_seconds else None
    return document(render(fleet, rows, now, settings, tz), every)


def document(body: str, refresh_seconds: Optional[int] = None) -> str:
    """The page's body as a whole document, with its icon and its refreshing script."""
    every = int(refresh_seconds or 0)
    fallback = f'<noscript><meta http-equiv="refresh" content="{every}"></noscript>' if every else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{fallback}'
            f'<title>keepwarm fleet</title>{favicon_link()}</head>'
            f'<body style="margin:12px" data-refresh="{every}"><div class="kw"><h1>keepwarm fleet</h1></div>'
            f'{body}<script>{SCRIPT}</script></body></html>')


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
    """The custom widget's answer: the page's body, no document and no script around it (the
    console embeds it and refreshes it itself); the update time in the dashboard's zone."""
    fleet, rows = gather(store, settings, now)
    return render(fleet, rows, now, settings, widget_zone(event))
