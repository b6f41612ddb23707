"""``keepwarm``: warm a model before a batch job, release it, show its state; register,
pause, resume, override and delete models; export the fleet and apply it from a file.
docs/cli.md describes every command.

    keepwarm warm my-model --minutes 90 --wait && python run_batch.py

One function per subcommand: ``_parser_<name>`` builds its arguments, ``cmd_<name>`` runs it.

Exit status: 0 done (for ``warm --wait``: the model is ready), 1 bad usage, 2 an error
(the model's error, the model paused or held cold by an override, an HTTP error such as
an unknown model, the network), 3 ``--wait`` timed out, 130 interrupted (Ctrl-C; the
lease is not released). A deletion asked for off a terminal without ``--yes`` is bad usage (1).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, Sequence, TextIO

from keepwarm_client import fleetfile
from keepwarm_client.client import KeepwarmClient, KeepwarmError, LeaseTimeout

DEFAULT_URL = "http://127.0.0.1:8000"
LEASE_ENDED = "LeaseEnded"  # the API's code for a lease that existed and is over
EXIT_OK, EXIT_USAGE, EXIT_ERROR, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EPILOG = """\
examples:
  keepwarm warm my-model --minutes 90 --wait && python run_batch.py
  keepwarm warm my-model --minutes 30 --holder nightly-etl
  keepwarm release my-model l3f9a0c1b2d4e
  keepwarm status my-model
  keepwarm list --status error
  keepwarm events my-model --limit 20
  keepwarm cost my-model --days 30
  keepwarm suggest my-model --weeks 4 --coverage 0.99
  keepwarm register my-model arn:aws:bedrock:us-west-2:123456789012:imported-model/abc123def456 \
      --window "MON-FRI 09:00-18:00" --timezone Europe/Paris
  keepwarm pause my-model
  keepwarm resume my-model
  keepwarm override my-model warm --for 2h
  keepwarm delete my-model --yes
  keepwarm export > fleet.yaml
  keepwarm apply fleet.yaml --prune --dry-run
  keepwarm probe my-model --dry-run

MODEL is the model's name or its ARN. The API's URL comes from --url, else
$KEEPWARM_URL, else http://127.0.0.1:8000 (the local stack). Requests to a deployed
stage are SigV4-signed with your AWS credentials (the usual AWS_PROFILE /
AWS_ACCESS_KEY_ID chain); requests to localhost/127.0.0.1 are not.

exit status: 0 ok (warm --wait: the model is ready), 1 bad usage (also: a
deletion off a terminal without --yes), 2 error (model error, model paused or held
cold by an override, HTTP error such as an unknown model, network), 3 --wait timed
out, 130 interrupted (the lease is kept).
"""


class _Parser(argparse.ArgumentParser):
    """Bad usage exits 1 (argparse's own default is 2, which here means an error)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1 (0.99 is 99%), got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _connection_options(parser: argparse.ArgumentParser, top: bool) -> None:
    # Accepted before or after the subcommand; a subcommand's copy only overrides when given.
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("connection")
    group.add_argument("--url", default=default(None),
                       help=f"the API's base URL (default: $KEEPWARM_URL, else {DEFAULT_URL})")
    group.add_argument("--region", default=default(None),
                       help="region to sign for (default: from an execute-api host name, else AWS_REGION/profile)")
    group.add_argument("--no-sign", dest="no_sign", action="store_true", default=default(False),
                       help="never SigV4-sign requests (default: sign unless the host is loopback)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="keepwarm", description="Keep Amazon Bedrock imported models warm for batch jobs.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_parser_register, _parser_pause, _parser_resume, _parser_override, _parser_delete, _parser_export):
        add(commands)

    warm = commands.add_parser("warm", help="keep MODEL warm from now for --minutes (a lease)",
                               description="Take a lease that keeps MODEL warm from now for --minutes; "
                                           "print its id and expiry. With --wait, also wait until "
                                           "the model is ready (exit 0), or until --timeout (exit 3).")
    warm.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    warm.add_argument("--minutes", type=_positive_int, required=True, help="how long to keep it warm")
    warm.add_argument("--wait", action="store_true", help="wait until the model is ready")
    warm.add_argument("--timeout", type=_positive_float, default=900.0,
                      help="with --wait: give up after this many seconds (default 900)")
    warm.add_argument("--poll", type=_positive_float, default=5.0,
                      help="with --wait: seconds between checks (default 5)")
    warm.add_argument("--holder", help="who holds the lease (shown in the model's state and events)")
    _connection_options(warm, top=False)
    warm.set_defaults(func=cmd_warm)

    release = commands.add_parser("release", help="end a lease now",
                                  description="End a lease early. A lease already over (expired or "
                                              "released) is not an error: it says so and exits 0. A model "
                                              "or lease id that never existed is (exit 2).")
    release.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    release.add_argument("lease_id", metavar="LEASE_ID", help="the id `keepwarm warm` printed")
    _connection_options(release, top=False)
    release.set_defaults(func=cmd_release)

    listing = commands.add_parser("list", help="list the models: status, next action, cold starts, errors",
                                  description="One line per model (all pages), or --json for the API's objects.")
    listing.add_argument("--status", action="append", metavar="STATUS",
                         help="only models in this status (cold, warming, warm, error); repeat or comma-separate")
    listing.add_argument("--json", action="store_true", help="print the models as a JSON list")
    _connection_options(listing, top=False)
    listing.set_defaults(func=cmd_list)

    events = commands.add_parser("events", help="show MODEL's recent events, newest first")
    events.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    events.add_argument("--limit", type=_positive_int, default=50, help="how many (default 50, at most 200)")
    events.add_argument("--json", action="store_true", help="print the events as a JSON list")
    _connection_options(events, top=False)
    events.set_defaults(func=cmd_events)

    cost = commands.add_parser("cost", help="what MODEL's schedule costs, against keeping it warm around the clock")
    cost.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    cost.add_argument("--days", type=_positive_int, default=30, help="over this many days from now (default 30)")
    cost.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _connection_options(cost, top=False)
    cost.set_defaults(func=cmd_cost)

    suggest = commands.add_parser("suggest", help="windows that would have covered MODEL's real traffic "
                                                  "(CloudWatch), priced; changes nothing")
    suggest.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    suggest.add_argument("--weeks", type=_positive_int, default=4, help="weeks of traffic to read (default 4)")
    suggest.add_argument("--coverage", type=_share, default=0.99,
                         help="the share of requests to cover, above 0 and at most 1 (default 0.99)")
    suggest.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _connection_options(suggest, top=False)
    suggest.set_defaults(func=cmd_suggest)

    apply = commands.add_parser("apply", help="make the registered models match FILE (YAML or JSON)",
                                description="Create the models FILE describes that are not registered and "
                                            "update those that differ (fields an entry leaves out keep their "
                                            "value); with --prune, delete registered models FILE does not name. "
                                            "Prints the plan first. Every entry is checked by the API before "
                                            "anything is applied: if one is invalid, nothing is.")
    apply.add_argument("file", metavar="FILE", type=Path, help="{models: [registration, ...]} in YAML or JSON")
    apply.add_argument("--prune", action="store_true", help="also delete models FILE does not name")
    apply.add_argument("--dry-run", action="store_true", help="print the plan and check it; change nothing")
    apply.add_argument("--yes", action="store_true",
                       help="with --prune: delete without asking (needed when not on a terminal)")
    _connection_options(apply, top=False)
    apply.set_defaults(func=cmd_apply)

    status = commands.add_parser("status", help="show MODEL's live state",
                                 description="Print the model's status, readiness, whether a window is "
                                             "open, its next action, its median cold start, whether it "
                                             "is paused, its override and leases, and how ready its "
                                             "recent windows were.")
    status.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    status.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _connection_options(status, top=False)
    status.set_defaults(func=cmd_status)
    _add_probe(commands)
    return parser


# -- probe ------------------------------------------------------------------------------------
def _gaps(text: str) -> list[int]:
    try:
        gaps = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole minutes: {text!r}") from None
    if any(g < 1 for g in gaps) or any(b <= a for a, b in zip(gaps, gaps[1:])):
        raise argparse.ArgumentTypeError(f"each gap must be at least 1 and longer than the one before: {text!r}")
    return gaps


def _add_probe(commands: Any) -> None:
    probe = commands.add_parser(
        "probe", help="measure MODEL's release time, cold answer, load and warm latency (outside its windows)",
        description="Outside MODEL's windows, load a copy, time warm answers, then leave it idle for growing "
                    "gaps until a call finds it cold: the release lies between the last gap it survived and "
                    "that one; the cold call shows whether Bedrock answers 429 or holds it, and the load it "
                    "starts is timed. Prints the plan and its worst-case cost first. Refused while a window, "
                    "lease or override holds the model or would before the probe can finish. With --show, "
                    "print the model's running or last probe instead.")
    probe.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    probe.add_argument("--dry-run", action="store_true", help="print the plan and its cost; change nothing")
    probe.add_argument("--gaps", type=_gaps, metavar="MINUTES",
                       help="idle gaps to try, comma-separated (default 4,8,16,32,64)")
    probe.add_argument("--show", action="store_true", help="print the model's running or last probe")
    probe.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _connection_options(probe, top=False)
    probe.set_defaults(func=cmd_probe)


def _probe_lines(probe: dict) -> list[str]:
    found = probe.get("findings") or {}
    release = found.get("release_minutes") or {}
    latency = (found.get("warm_latency_ms") or {}).get("median")
    bounds = [f"more than {release['more_than']:g} min" if release.get("more_than") is not None else None,
              f"at most {release['at_most']:g} min" if release.get("at_most") is not None else None]
    loads = found.get("load_seconds") or []
    lines = [f"probe: {probe['status']} (started {probe['started_at']}"
             + (f", ended {probe['finished_at']})" if probe.get("finished_at") else ")"),
             "  release:       " + (", ".join(b for b in bounds if b) or "not measured yet"),
             "  cold answer:   " + {"429": "429 ModelNotReadyException at once", "held": "held until a copy loaded"}
             .get(found.get("cold_answer"), "not seen yet"),
             "  load:          " + (", ".join(f"{x:.0f} s" for x in loads) or "not measured yet"),
             "  warm latency:  " + (f"{latency:.0f} ms (median)" if latency is not None else "not measured yet")]
    learned = probe.get("learned")
    if learned:
        lines.append(f"  learned:       release {learned.get('release_minutes') or 'as configured'} min, "
                     f"keep-alive {learned.get('keepalive_minutes') or 'as configured'} min")
    if probe.get("reason"):
        lines.append(f"  {probe['reason']}")
    return lines


def cmd_probe(args: argparse.Namespace, client: KeepwarmClient) -> int:
    if args.show:
        probe = (client.model(args.model).get("state") or {}).get("probe")
        if args.json:
            print(json.dumps(probe, indent=2))
        else:
            print("\n".join(_probe_lines(probe)) if probe else f"{args.model}: never probed")
        return EXIT_OK
    got = client.probe(args.model, dry_run=args.dry_run, gaps_minutes=args.gaps)
    if args.json:
        print(json.dumps(got, indent=2))
        return EXIT_OK
    plan = got["plan"]
    units = plan.get("custom_model_units")
    lines = [f"{got['model']}: idle gaps of {', '.join(str(g) for g in plan['gaps_minutes'])} min, "
             f"finished by {plan['finishes_by']} at the latest",
             f"  worst case:    {plan['copy_minutes_max']} copy-minutes"
             + (f" ({plan['cmu_minutes_max']} CMU-minutes at {units} CMU per copy, {_usd(plan.get('cost_max'))})"
                if units else " (CMUs per copy unknown: set custom_model_units to price it)")]
    lines.append("dry run: nothing changed" if got["dry_run"] else
                 f"started: keepwarm probe {got['model']} --show follows it")
    print("\n".join(lines))
    return EXIT_OK


# -- output -------------------------------------------------------------------------------
def _clock(value: Optional[str]) -> Optional[str]:
    """``2026-03-09T09:58:10Z`` -> ``09:58:10Z`` (UTC); None stays None."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%H:%M:%SZ")


def _lease_line(name: str, lease: dict) -> str:
    line = f"lease {lease['id']} on {name} until {lease.get('expires_at')}"
    if lease.get("ready"):
        return line + " (ready)"
    expected = _clock(lease.get("expected_ready_at"))
    return line + f" ({lease.get('status')}" + (f", expected ready {expected})" if expected else ")")


class Progress:
    """The waiting line on ``stream``: rewritten in place (``\\r``) on a terminal, one line
    per poll otherwise (a log file, a pipe)."""

    def __init__(self, name: str, stream: TextIO):
        self.name = name
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.in_place = bool(isatty and isatty())
        self._width = 0

    def __call__(self, lease: dict, elapsed: float) -> None:
        line = f"waiting for {self.name}: {lease.get('status')}, {elapsed:.0f} s elapsed"
        expected = _clock(lease.get("expected_ready_at"))
        if expected:
            line += f", expected ready {expected}"
        if self.in_place:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End an in-place line so that what follows starts on a line of its own."""
        if self.in_place and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


# -- commands -----------------------------------------------------------------------------
def _url(args: argparse.Namespace) -> tuple[str, str]:
    """The API's URL and where it came from. $PORT is not read: many servers use it, and
    the CLI must not talk to one of them by accident; the local stack prints the
    KEEPWARM_URL line to export instead."""
    if args.url:
        return args.url, "--url"
    if os.environ.get("KEEPWARM_URL"):
        return os.environ["KEEPWARM_URL"], "KEEPWARM_URL"
    return DEFAULT_URL, "the default: neither --url nor KEEPWARM_URL is set"


def _client(args: argparse.Namespace) -> KeepwarmClient:
    url, _ = _url(args)
    return KeepwarmClient(url, sign=False if args.no_sign else None, region=args.region)


def _unreachable(args: argparse.Namespace, err: KeepwarmError) -> str:
    """The network error, with where the URL came from and how to give another one."""
    url, source = _url(args)
    return (f"{err} (URL from {source}). Is the API running there? Give its URL with --url URL or "
            f"export KEEPWARM_URL=URL (make run prints the line to export; a deployed stage's URL is "
            f"its stack's ApiUrl output)")


def cmd_warm(args: argparse.Namespace, client: KeepwarmClient) -> int:
    name = args.model
    lease = client.lease(name, args.minutes, args.holder)
    print(_lease_line(name, lease), flush=True)
    if not args.wait:
        return EXIT_OK
    lease_id, until = lease["id"], lease.get("expires_at")
    kept = (f"lease {lease_id} stays active until {until} "
            f"(end it with: keepwarm release {name} {lease_id})")
    if not lease.get("ready"):
        progress = Progress(name, sys.stderr)
        try:
            lease = client.wait_until_ready(name, lease_id, timeout=args.timeout, poll=args.poll,
                                            on_progress=progress)
        except LeaseTimeout as err:
            progress.done()
            expected = _clock(err.lease.get("expected_ready_at"))
            print(f"keepwarm: {name} was not ready after {args.timeout:g} s (status {err.lease.get('status')}"
                  + (f", expected ready {expected}" if expected else "") + f"); {kept}", file=sys.stderr)
            return EXIT_TIMEOUT
        except KeyboardInterrupt:
            progress.done()
            print(f"keepwarm: interrupted; the lease was NOT released: {kept}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except KeepwarmError as err:
            progress.done()
            print(f"keepwarm: {err}", file=sys.stderr)
            if err.code in ("ModelError", "LeaseBlocked") or err.transient:  # the lease itself is still there
                print(f"keepwarm: {kept}", file=sys.stderr)
            return EXIT_ERROR
        progress.done()
    print(f"{name} is ready (lease {lease_id}, until {lease.get('expires_at') or until})", flush=True)
    return EXIT_OK


def cmd_release(args: argparse.Namespace, client: KeepwarmClient) -> int:
    try:
        client.release(args.model, args.lease_id)
    except KeepwarmError as err:
        if err.status != 404:
            raise
        if err.code == LEASE_ENDED:
            # A cleanup trap must not fail because the lease ran out (or was released) first.
            print(f"lease {args.lease_id} on {args.model} is already gone: {err.message}")
            return EXIT_OK
        # A model or lease id that never existed: a typo, or the wrong model.
        print(f"keepwarm: cannot release lease {args.lease_id} on {args.model}: {err.message}", file=sys.stderr)
        return EXIT_ERROR
    print(f"released lease {args.lease_id} on {args.model}")
    return EXIT_OK


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _statuses(given: Optional[list[str]]) -> Optional[list[str]]:
    return [s for item in given for s in item.split(",") if s] if given else None


def cmd_list(args: argparse.Namespace, client: KeepwarmClient) -> int:
    models = client.models(status=_statuses(args.status))
    if args.json:
        print(json.dumps(models, indent=2))
        return EXIT_OK
    if not models:
        print("no models" + (f" in status {', '.join(_statuses(args.status) or [])}" if args.status else ""))
        return EXIT_OK
    rows = [["NAME", "STATUS", "READY", "WINDOW", "NEXT ACTION", "COLD P50", "ERROR"]]
    for model in models:
        state = model.get("state") or {}
        action = state.get("next_action")
        p50 = (state.get("cold_starts") or {}).get("p50_seconds")
        status = str(state.get("status")) + ("" if model.get("enabled", True) else " (paused)")
        rows.append([model["name"], status, _yes_no(state.get("ready")),
                     "open" if state.get("window_open") else "closed",
                     f"{action['kind']} {action['at']}" if action else "none",
                     f"{p50:.0f} s" if p50 is not None else "-", (state.get("error") or "")[:80]])
    print(_table(rows))
    return EXIT_OK


def cmd_events(args: argparse.Namespace, client: KeepwarmClient) -> int:
    events = client.events(args.model, args.limit)
    if args.json:
        print(json.dumps(events, indent=2))
        return EXIT_OK
    for event in events:
        detail = " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                          for k, v in event.items() if k not in ("at", "kind") and v is not None)
        print(f"{event.get('at')}  {event.get('kind'):<16} {detail}".rstrip())
    if not events:
        print(f"no events for {args.model}")
    return EXIT_OK


def _usd(value: Any) -> str:
    return f"${value:,.2f}" if isinstance(value, (int, float)) else "unknown"


def cmd_cost(args: argparse.Namespace, client: KeepwarmClient) -> int:
    cost = client.cost(args.model, args.days)
    if args.json:
        print(json.dumps(cost, indent=2))
        return EXIT_OK
    lines = [
        f"{cost['model']} over {cost['days']} days from {cost['start']} ({cost['region']}, "
        f"{cost['custom_model_units']} CMU per copy):",
        f"  schedule:      {_usd(cost.get('cost'))} ({cost['billed_minutes']} billed minutes, "
        f"windows open {cost['window_minutes']:.0f})",
        f"  always warm:   {_usd(cost.get('always_warm_cost'))} ({cost['always_warm_minutes']} minutes)",
        f"  saving:        {_usd(cost.get('saving'))}"
        + (f" ({cost['saving_percent']}%)" if cost.get("saving_percent") is not None else ""),
        f"  storage:       {_usd(cost.get('storage_cost'))} (paid either way)",
    ]
    if cost.get("note"):
        lines.append(f"  {cost['note']}")
    if cost.get("hint"):
        lines.append(f"  {cost['hint']}")
    print("\n".join(lines))
    return EXIT_OK


def _window_text(window: dict) -> str:
    return f"{window.get('days', '*')} {window['start']}-{window['stop']}"


def cmd_suggest(args: argparse.Namespace, client: KeepwarmClient) -> int:
    got = client.suggestion(args.model, args.weeks, args.coverage)
    if args.json:
        print(json.dumps(got, indent=2))
        return EXIT_OK
    lines = [f"{got['model']}: {got['requests']} requests from {got['from']} to {got['to']} "
             f"({got['own_calls']} of keepwarm's own calls left out), in {got['timezone']}"]
    if not got["enough_data"]:
        lines.append(f"  no suggestion: {got['reason']}")
    else:
        lines.append("  windows:       " + "; ".join(_window_text(w) for w in got["windows"]))
        if got.get("reason"):
            lines.append(f"                 ({got['reason']})")
        lines.append(f"  covered:       {got['covered_share'] * 100:.2f}% of requests; "
                     f"{got['cold_requests']} would have met a cold model")
    cost = got["cost"]
    per = f"over {cost['days']} days, {cost['custom_model_units']} CMU per copy"
    if cost.get("suggested"):
        lines.append(f"  suggested:     {_usd(cost['suggested']['cost'])} ({per})")
    lines.append(f"  today:         {_usd(cost['current']['cost'])}")
    lines.append(f"  always warm:   {_usd(cost['always_on']['cost'])}")
    if got["enough_data"]:
        lines.append(f"  apply with:    PUT /models/{got['model']} {json.dumps({'windows': got['windows']})}")
    if got.get("hint"):
        lines.append(f"  {got['hint']}")
    print("\n".join(lines))
    return EXIT_OK


def cmd_apply(args: argparse.Namespace, client: KeepwarmClient) -> int:
    try:
        models = fleetfile.load(args.file)
        problems = fleetfile.check_entries(models, fleetfile.registration_fields(client))
    except fleetfile.FleetFileError as err:
        print(f"keepwarm: {err}", file=sys.stderr)
        return EXIT_ERROR
    if problems:
        print(f"keepwarm: {args.file} is not valid; nothing applied:", *problems, sep="\n  ", file=sys.stderr)
        return EXIT_ERROR
    todo, problems = fleetfile.plan(client, models, client.models(), args.prune)
    if problems:
        print(f"keepwarm: {args.file} is not valid; nothing applied:", *problems, sep="\n  ", file=sys.stderr)
        return EXIT_ERROR
    print("\n".join(todo.lines()), flush=True)
    if args.dry_run or todo.empty:
        print("dry run: nothing changed" if args.dry_run else "nothing to do")
        return EXIT_OK
    if todo.delete:
        question = (f"delete {len(todo.delete)} registered model(s) {args.file} does not name "
                    f"({', '.join(todo.delete)})?")
        answer = _confirm(question, args.yes, "nothing applied")
        if answer is not None:
            return answer
    try:
        fleetfile.apply(client, todo, lambda line: print(line, flush=True))
    except KeepwarmError as err:
        print(f"keepwarm: stopped: {err} (the steps above were applied; apply the file again to finish)",
              file=sys.stderr)
        return EXIT_ERROR
    print("applied")
    return EXIT_OK


def _action_text(action: Optional[dict]) -> str:
    return f"{action.get('kind')} at {action.get('at')}" if action else "none"


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def cmd_status(args: argparse.Namespace, client: KeepwarmClient) -> int:
    model = client.model(args.model)
    if args.json:
        print(json.dumps(model, indent=2))
        return EXIT_OK
    state = model.get("state") or {}
    action = state.get("next_action")
    cold = state.get("cold_starts") or {}
    p50 = cold.get("p50_seconds")
    lines = [
        f"status: {state.get('status')}",
        f"ready: {_yes_no(state.get('ready'))}",
        f"window_open: {_yes_no(state.get('window_open'))}",
        "next action: " + _action_text(action),
        "cold-start p50: " + (f"{p50:.1f} s ({cold.get('count')} recorded)" if p50 is not None
                              else "none recorded"),
        _warm_latency_text(state.get("warm_latency")),
        _keepalive_text(state),
    ]
    if state.get("error"):
        lines.append(f"error: {state['error']}")
    lines.append("paused: " + (f"yes (resume with: keepwarm resume {model['name']})"
                               if model.get("enabled") is False else "no"))
    override = state.get("override")
    lines.append("override: " + (f"{override.get('state')} until {override.get('until')} "
                                 f"(set {override.get('set_at')})" if override else "none"))
    leases = state.get("leases") or []
    lines.append(f"leases: {len(leases)} active" if leases else "leases: none")
    for lease in leases:
        lines.append(f"  {lease['id']}  until {lease.get('expires_at')}  holder {lease.get('holder') or '-'}"
                     + ("  ready" if lease.get("ready") else "")
                     + (f"  blocked: {lease['blocked']}" if lease.get("blocked") else ""))
    lines += readiness_lines(model.get("readiness"), model.get("timezone") or "UTC")
    print("\n".join(lines))
    return EXIT_OK


def _warm_latency_text(latency: Optional[dict]) -> str:
    """A loaded copy's answer time and the threshold past which an answer reads as cold."""
    if not isinstance(latency, dict) or latency.get("p50_ms") is None:
        return "warm latency: not measured yet"
    samples = latency.get("samples")
    return (f"warm latency: {latency['p50_ms']} ms p50, {latency.get('p95_ms')} ms p95 "
            f"({samples} answer{'' if samples == 1 else 's'}); an answer over "
            f"{latency.get('cold_above_ms')} ms reads as a cold copy")


def _keepalive_text(state: dict) -> str:
    """The keep-alive in force, the release assumed, and why when learned."""
    minutes = state.get("keepalive_minutes_in_force")
    if minutes is None:
        return "keep-alive: unknown"
    release = state.get("release_minutes_assumed")
    text = f"keep-alive: every {minutes} min (copies assumed released after {release} idle min)"
    reason = state.get("keepalive_reason")
    return f"{text}; {reason}" if reason else text


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _local(value: Optional[str], zone: Any) -> Optional[datetime]:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(zone)


def readiness_lines(readiness: Optional[dict], zone_name: str) -> list[str]:
    """The recent windows' readiness (GET /models/{model}'s ``readiness``), times in the
    model's zone; nothing when the API does not give it."""
    if not isinstance(readiness, dict):
        return []
    summary = readiness.get("summary") or {}
    recent = readiness.get("recent") or []
    if not summary and not recent:
        return []
    zone = _zone(zone_name)
    head = f"readiness (last 7 days): ready at {summary.get('ready_at_open', 0)} of {summary.get('openings', 0)} openings"
    if summary.get("late_seconds_max"):
        head += f", at worst {summary['late_seconds_max']:.0f} s late"
    if summary.get("verified_share") is not None:
        head += f", verified warm {summary['verified_share'] * 100:.1f}% of window time"
    lines = [head]
    for record in recent:
        opened, closed = _local(record.get("window_open"), zone), _local(record.get("window_close"), zone)
        when = (f"{opened:%Y-%m-%d %H:%M}-{closed:%H:%M} {zone_name}" if opened and closed
                else str(record.get("window_open")))
        late = record.get("late_seconds")
        ready = ("ready at open" if record.get("ready_at_open") else
                 "never verified warm" if late is None else f"ready {late:.0f} s late")
        line = f"  {when}  {ready}"
        if record.get("verified_share") is not None:
            line += f", verified warm {record['verified_share'] * 100:.1f}%"
        if record.get("unexpected_cold"):
            line += f", {record['unexpected_cold']} unexpected cold"
        if record.get("cold_starts"):
            line += f", {record['cold_starts']} cold start(s)"
        lines.append(line)
    return lines


# -- asking before deleting -----------------------------------------------------------------
def _on_terminal() -> bool:
    isatty = getattr(sys.stdin, "isatty", None)
    return bool(isatty and isatty())


def _confirm(question: str, yes: bool, refused: str) -> Optional[int]:
    """None to go ahead: ``--yes`` given, or "y" answered on a terminal; else the exit
    status to stop with (refused off a terminal, saying ``--yes`` is needed)."""
    if yes:
        return None
    if not _on_terminal():
        print(f"keepwarm: would {question.rstrip('?')}, and this is not a terminal to ask on: "
              f"add --yes to go ahead; {refused}", file=sys.stderr)
        return EXIT_USAGE
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() in ("y", "yes"):
        return None
    print(f"keepwarm: not confirmed; {refused}", file=sys.stderr)
    return EXIT_USAGE


# -- register, pause, resume, override, delete, export ------------------------------------
_WINDOW = re.compile(r"(?:(?P<days>\S+)\s+)?(?P<start>\d\d:\d\d)-(?P<stop>\d\d:\d\d)")


def _window(text: str) -> dict:
    """``MON-FRI 09:00-18:00``, ``09:00-18:00`` or a JSON window object (a cron window:
    ``{"warm": "0 9 * * MON-FRI", "stop": "0 18 * * MON-FRI"}``)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"not a JSON object: {err}") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError("must be a JSON object")
        return value
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected [DAYS ]HH:MM-HH:MM, e.g. \"MON-FRI 09:00-18:00\", "
                                         "or a JSON window object")
    window = {"start": match["start"], "stop": match["stop"]}
    return {"days": match["days"], **window} if match["days"] else window


def _holiday(text: str) -> dict:
    """``US`` or ``GB-ENG`` / ``GB:ENG`` (country, then subdivision)."""
    country, _, subdiv = text.replace(":", "-").partition("-")
    return {"country": country, "subdiv": subdiv} if subdiv else {"country": country}


def _setting(text: str) -> tuple[str, Any]:
    field, sep, raw = text.partition("=")
    if not sep or not field:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FIELD=VALUE (VALUE as JSON, or plain text)")
    try:
        return field, json.loads(raw)
    except ValueError:
        return field, raw


def _parser_register(commands: Any) -> None:
    register = commands.add_parser(
        "register", help="register a model to keep warm on a schedule",
        description="Register MODEL_ARN under NAME with the schedule given (the API checks the ARN with "
                    "Bedrock). --set adds any other registration field, its value as JSON.")
    register.add_argument("name", metavar="NAME", help="the name to register it under (lowercase, digits, hyphens)")
    register.add_argument("model_arn", metavar="MODEL_ARN", help="the imported model's ARN")
    register.add_argument("--window", action="append", type=_window, required=True, metavar="WINDOW",
                          help='"[DAYS ]HH:MM-HH:MM" (e.g. "MON-FRI 09:00-18:00") or a JSON window; repeatable')
    register.add_argument("--timezone", help="the windows' time zone, e.g. Europe/Paris (default UTC)")
    register.add_argument("--exclude-date", action="append", metavar="YYYY-MM-DD",
                          help="a date on which no window opens; repeatable")
    register.add_argument("--holidays", type=_holiday, metavar="COUNTRY[-SUBDIV]",
                          help="no window opens on this country's public holidays, e.g. US or GB-ENG")
    register.add_argument("--keepalive-minutes", type=_positive_int, help="minutes between keep-alive calls")
    register.add_argument("--release-minutes", type=_positive_int,
                          help="minutes an idle copy is assumed to stay loaded")
    register.add_argument("--custom-model-units", type=_positive_int, help="CMUs per copy (for cost)")
    register.add_argument("--role-arn", help="a role in the model's account to reach it through")
    register.add_argument("--external-id", help="the external id the role's trust policy asks for")
    register.add_argument("--paused", action="store_true", help="register it paused (enabled: false)")
    register.add_argument("--set", action="append", type=_setting, default=[], metavar="FIELD=VALUE",
                          help="any other registration field, e.g. billing_aware_prewarm=false; repeatable")
    register.add_argument("--dry-run", action="store_true", help="check it and show what would be stored")
    register.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _connection_options(register, top=False)
    register.set_defaults(func=cmd_register)


def registration(args: argparse.Namespace) -> dict:
    """The POST /models body the register command's arguments describe."""
    body: dict[str, Any] = {"name": args.name, "model_arn": args.model_arn, "windows": args.window}
    given = {"timezone": args.timezone, "exclude_dates": args.exclude_date, "holidays": args.holidays,
             "keepalive_minutes": args.keepalive_minutes, "release_minutes": args.release_minutes,
             "custom_model_units": args.custom_model_units, "role_arn": args.role_arn,
             "external_id": args.external_id, "enabled": False if args.paused else None}
    body.update({field: value for field, value in given.items() if value is not None})
    body.update(dict(args.set))
    return body


def cmd_register(args: argparse.Namespace, client: KeepwarmClient) -> int:
    model = client.register(registration(args), dry_run=args.dry_run)
    if args.json:
        print(json.dumps(model, indent=2))
        return EXIT_OK
    state = model.get("state") or {}
    action = state.get("next_action")
    done = "would register" if args.dry_run else "registered"
    print(f"{done} {model['name']} ({model['model_arn']}): "
          + "; ".join(_window_text(w) if "start" in w else f"{w.get('warm')} until {w.get('stop')}"
                      for w in model.get("windows") or [])
          + f" {model.get('timezone')}" + ("" if model.get("enabled", True) else ", paused"))
    print(f"status: {state.get('status')}; next action: "
          + _action_text(action))
    return EXIT_OK


def _parser_pause(commands: Any) -> None:
    pause = commands.add_parser("pause", help="stop keeping MODEL warm until resumed (enabled: false)",
                                description="Pause MODEL: no call is made for it (its windows, leases "
                                            "and warm overrides are ignored) until `keepwarm resume`.")
    pause.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    _connection_options(pause, top=False)
    pause.set_defaults(func=cmd_pause)


def cmd_pause(args: argparse.Namespace, client: KeepwarmClient) -> int:
    model = client.update(args.model, {"enabled": False})
    print(f"paused {model['name']} (resume with: keepwarm resume {model['name']})")
    return EXIT_OK


def _parser_resume(commands: Any) -> None:
    resume = commands.add_parser("resume", help="keep a paused MODEL warm on its schedule again")
    resume.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    _connection_options(resume, top=False)
    resume.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace, client: KeepwarmClient) -> int:
    model = client.update(args.model, {"enabled": True})
    action = (model.get("state") or {}).get("next_action")
    print(f"resumed {model['name']}; next action: "
          + _action_text(action))
    return EXIT_OK


_DURATION = re.compile(r"(?P<count>\d+)\s*(?P<unit>[mhd])")


def _duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1d``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match["count"]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of minutes, hours or days: 90m, 2h, 1d")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match["unit"]]
    return timedelta(**{unit: int(match["count"])})


def _parser_override(commands: Any) -> None:
    override = commands.add_parser(
        "override", help="hold MODEL warm or cold until a time, whatever its schedule; or clear that",
        description="warm: keep MODEL warm until the time given; cold: keep it cold (no window, lease or "
                    "keep-alive warms it) until then; clear: end the override now. The schedule resumes "
                    "when it ends.")
    override.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    override.add_argument("state", choices=["warm", "cold", "clear"], help="warm, cold or clear")
    until = override.add_mutually_exclusive_group()
    until.add_argument("--until", help="an ISO 8601 time with its offset, e.g. 2026-03-09T18:00:00Z")
    until.add_argument("--for", dest="duration", type=_duration, metavar="DURATION",
                       help="from now: 90m, 2h, 1d")
    _connection_options(override, top=False)
    override.set_defaults(func=cmd_override)


def cmd_override(args: argparse.Namespace, client: KeepwarmClient) -> int:
    if args.state == "clear":
        if args.until or args.duration:
            print("keepwarm: override clear takes no --until or --for", file=sys.stderr)
            return EXIT_USAGE
        client.clear_override(args.model)
        print(f"cleared the override on {args.model}: its schedule applies again")
        return EXIT_OK
    if not (args.until or args.duration):
        print(f"keepwarm: override {args.state} needs --until TIME or --for DURATION", file=sys.stderr)
        return EXIT_USAGE
    until = args.until or (datetime.now(timezone.utc) + args.duration).strftime("%Y-%m-%dT%H:%M:%SZ")
    model = client.override(args.model, args.state, until)
    held = (model.get("state") or {}).get("override") or {}
    print(f"{model['name']} is held {held.get('state', args.state)} until {held.get('until', until)} "
          f"(end it early with: keepwarm override {model['name']} clear)")
    return EXIT_OK


def _parser_delete(commands: Any) -> None:
    delete = commands.add_parser("delete", help="stop keeping MODEL warm and forget it",
                                 description="Delete MODEL's registration (its schedule, leases and events). "
                                             "Asks first on a terminal; elsewhere needs --yes.")
    delete.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    _connection_options(delete, top=False)
    delete.set_defaults(func=cmd_delete)


def cmd_delete(args: argparse.Namespace, client: KeepwarmClient) -> int:
    model = client.model(args.model)  # an unknown model fails here, before anything is asked
    answer = _confirm(f"delete {model['name']} ({model['model_arn']})?", args.yes, "nothing deleted")
    if answer is not None:
        return answer
    client.delete(model["name"])
    print(f"deleted {model['name']}")
    return EXIT_OK


def _parser_export(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="write every registered model as a fleet file `keepwarm apply` takes",
        description="Write the registered models as {models: [...]} (YAML, or JSON with --format json "
                    "or an --output ending in .json): applying the file to the same API changes nothing; "
                    "applying it elsewhere registers the same fleet. Fields a model leaves unset are left out.")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here (default: standard output)")
    export.add_argument("--format", choices=["yaml", "json"], help="default: from FILE's name, else yaml")
    _connection_options(export, top=False)
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace, client: KeepwarmClient) -> int:
    kind = args.format or ("json" if args.output is not None and args.output.suffix == ".json" else "yaml")
    fleet = fleetfile.export(client.models(), fleetfile.registration_fields(client))
    text = fleetfile.dump(fleet, kind)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"keepwarm: cannot write {args.output}: {err}", file=sys.stderr)
        return EXIT_ERROR
    count = len(fleet["models"])
    print(f"wrote {count} model{'' if count == 1 else 's'} to {args.output}")
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or bad usage (1)
        return stop.code if isinstance(stop.code, int) else (EXIT_OK if stop.code is None else EXIT_USAGE)
    try:
        client = _client(args)
    except KeepwarmError as err:
        print(f"keepwarm: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args, client)
    except KeepwarmError as err:
        print(f"keepwarm: {_unreachable(args, err) if err.code == 'NetworkError' else err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("keepwarm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
