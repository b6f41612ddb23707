"""``keepwarm``: warm a model before a batch job, release it, show its state.

    keepwarm warm my-model --minutes 90 --wait && python run_batch.py

Exit status: 0 done (for ``warm --wait``: the model is ready), 1 bad usage, 2 an error
(the model's error, the model paused or held cold by an override, an HTTP error such as
an unknown model, the network), 3 ``--wait`` timed out, 130 interrupted (Ctrl-C; the
lease is not released).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence, TextIO

from keepwarm_client import fleetfile
from keepwarm_client.client import KeepwarmClient, KeepwarmError, LeaseTimeout

DEFAULT_URL = "http://127.0.0.1:8000"
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
  keepwarm apply fleet.yaml --prune --dry-run

MODEL is the model's name or its ARN. The API's URL comes from --url, else
$KEEPWARM_URL, else http://127.0.0.1:8000 (the local stack). Requests to a deployed
stage are SigV4-signed with your AWS credentials (the usual AWS_PROFILE /
AWS_ACCESS_KEY_ID chain); requests to localhost/127.0.0.1 are not.

exit status: 0 ok (warm --wait: the model is ready), 1 bad usage, 2 error (model
error, model paused or held cold by an override, HTTP error such as an unknown
model, network), 3 --wait timed out, 130 interrupted (the lease is kept).
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
                                              "released: 404) is not an error: it says so and exits 0.")
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
    _connection_options(apply, top=False)
    apply.set_defaults(func=cmd_apply)

    status = commands.add_parser("status", help="show MODEL's live state",
                                 description="Print the model's status, readiness, whether a window is "
                                             "open, its next action and its median cold start.")
    status.add_argument("model", metavar="MODEL", help="the model's name or ARN")
    _connection_options(status, top=False)
    status.set_defaults(func=cmd_status)
    return parser


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
def _client(args: argparse.Namespace) -> KeepwarmClient:
    url = args.url or os.environ.get("KEEPWARM_URL") or DEFAULT_URL
    return KeepwarmClient(url, sign=False if args.no_sign else None, region=args.region)


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
        # A cleanup trap must not fail because the lease ran out (or was released) first.
        print(f"lease {args.lease_id} on {args.model} is already gone: {err.message}")
        return EXIT_OK
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
    try:
        fleetfile.apply(client, todo, lambda line: print(line, flush=True))
    except KeepwarmError as err:
        print(f"keepwarm: stopped: {err} (the steps above were applied; apply the file again to finish)",
              file=sys.stderr)
        return EXIT_ERROR
    print("applied")
    return EXIT_OK


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def cmd_status(args: argparse.Namespace, client: KeepwarmClient) -> int:
    model = client.model(args.model)
    state = model.get("state") or {}
    action = state.get("next_action")
    cold = state.get("cold_starts") or {}
    p50 = cold.get("p50_seconds")
    lines = [
        f"status: {state.get('status')}",
        f"ready: {_yes_no(state.get('ready'))}",
        f"window_open: {_yes_no(state.get('window_open'))}",
        "next action: " + (f"{action.get('kind')} at {action.get('at')}" if action else "none"),
        "cold-start p50: " + (f"{p50:.1f} s ({cold.get('count')} recorded)" if p50 is not None
                              else "none recorded"),
    ]
    if state.get("error"):
        lines.append(f"error: {state['error']}")
    print("\n".join(lines))
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
        print(f"keepwarm: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("keepwarm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
