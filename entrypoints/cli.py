"""The `lakehouse` command line: generate sample data, run the pipeline, open the UI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipelines.config import UserError
from pipelines.options import (
    add_location_options,
    add_run_options,
    requested_dates,
    run_settings,
)
from pipelines.plan import resolve_dates
from pipelines.storage_checks import ensure_writable

if TYPE_CHECKING:
    from pipelines.plan import PlanOutcome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="process ingest dates through every layer")
    add_run_options(run)

    ui = commands.add_parser("ui", help="start the Dagster UI and daemon on the lakehouse")
    add_location_options(ui)
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ui.add_argument("--port", type=int, default=3000, help="port to listen on")

    forget = commands.add_parser("forget-user", help="GDPR erasure of one user, everywhere")
    add_location_options(forget)
    from pipelines import erasure

    erasure.add_arguments(forget)

    status = commands.add_parser("status", help="the last runs and the dates held back")
    add_location_options(status, landing=False)
    status.add_argument("--limit", type=int, default=10, help="how many runs to show")

    maintain = commands.add_parser(
        "maintain", help="compact, checkpoint and vacuum every table (weekly)"
    )
    add_location_options(maintain, landing=False)
    from pipelines import maintenance

    maintenance.add_arguments(maintain)

    generate = commands.add_parser("generate", help="write realistic sample landing data")
    from pipelines import generate as generate_module

    generate_module.add_arguments(generate)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """The run plan in this process: every step and check, as Dagster and Databricks run them."""
    from pipelines.checks import preload
    from pipelines.plan import run_plan
    from pipelines.spark import get_spark

    settings = run_settings(args)
    dates = resolve_dates(settings.landing, requested_dates(args))
    ensure_writable(settings.root)
    preload()
    say = print_progress
    span = dates[0].isoformat() if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    say(f"run {span}: bronze -> silver -> gold, features -> publish, with checks")
    outcome = run_plan(get_spark(), settings, dates, launcher="cli", progress=say)
    report(outcome, settings.gate_threshold)
    return 0 if outcome.ok else 1


def print_progress(message: str) -> None:
    print(f"[lakehouse] {message}", flush=True)


def report(outcome: PlanOutcome, threshold: float) -> None:
    """The run's end: each ingest date's gate, then every failure on stderr, one line each."""
    for day, gate in sorted(outcome.silver.outcomes.items() if outcome.silver else []):
        state = "ok" if gate.gate_passed else "GATE FAILED"
        print(
            f"[lakehouse] {day}: {gate.records} records, {gate.failed} "
            f"quarantined by rules 1-8 ({gate.failed_share:.1%}) - {state}"
        )
    for day in outcome.failed_dates:
        gate = outcome.silver.outcomes[day]
        print(
            f"lakehouse: gate failed for ingest date {day}: {gate.failed_share:.1%} of "
            f"{gate.records} records failed (threshold {threshold:.0%}); top reasons: "
            f"{gate.top_reasons}. Its valid records are held back.",
            file=sys.stderr,
        )
    for day, files in sorted(outcome.unreadable.items()):
        shown = ", ".join(files)
        print(f"lakehouse: ingest date {day} skipped, unreadable: {shown}", file=sys.stderr)
    for check in outcome.blocking_failures:
        where = f" (Data Docs: {check.data_docs_url})" if check.data_docs_url else ""
        print(f"lakehouse: check {check.label} failed: {check.description}{where}", file=sys.stderr)
    skipped = [s.name for s in outcome.steps.values() if s.status == "skipped"]
    if skipped:
        print(f"lakehouse: not run: {', '.join(skipped)}", file=sys.stderr)
    print(f"[lakehouse] done in {outcome.seconds['total']:.1f}s (run {outcome.run_id})")


def cmd_status(args: argparse.Namespace) -> int:
    """The run ledger's last runs and the ingest dates still held back by their gate."""
    from pipelines.ledger import status_report
    from pipelines.spark import get_spark

    settings = run_settings(args, need_landing=False)
    print(status_report(get_spark(), settings.root, limit=args.limit))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from orchestration.ui import serve

    settings = run_settings(args)
    return serve(settings.landing, settings.root, args.host, args.port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "ui":
            return cmd_ui(args)
        if args.command == "forget-user":
            from pipelines import erasure

            return erasure.run_from_args(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "maintain":
            from pipelines import maintenance

            args.lakehouse = run_settings(args, need_landing=False).root
            return maintenance.run_from_args(args)
        if args.command == "generate":
            from pipelines import generate as generate_module

            return generate_module.run_from_args(args)
        parser.error(f"unknown command {args.command}")
    except UserError as error:
        if args.debug:
            raise
        print(f"lakehouse: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lakehouse: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
