"""The `lakehouse` command line: generate sample data, run the pipeline, open the UI."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pipelines.config import UserError, gate_threshold_from_env
from pipelines.landing import parse_date


def _env_default(name: str) -> str | None:
    return os.environ.get(name) or None


def _add_locations(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--landing",
        default=_env_default("LAKEHOUSE_LANDING"),
        help="landing zone: folder or abfss:// URI (env LAKEHOUSE_LANDING)",
    )
    parser.add_argument(
        "--lakehouse",
        default=_env_default("LAKEHOUSE_ROOT"),
        help="lakehouse root: folder or abfss:// URI (env LAKEHOUSE_ROOT)",
    )


def _require(value: str | None, option: str, env: str) -> str:
    if not value:
        raise UserError(f"{option} is required (or set {env})")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="process ingest dates through every layer")
    _add_locations(run)
    run.add_argument(
        "--date",
        action="append",
        dest="dates",
        metavar="YYYY-MM-DD",
        help="ingest date to process (repeatable; default: every date in the landing zone)",
    )
    run.add_argument(
        "--gate-threshold",
        type=float,
        default=None,
        help="max share of records failing rules 1-8 before a date is held back "
        "(env LAKEHOUSE_GATE_THRESHOLD, default 0.25)",
    )

    ui = commands.add_parser("ui", help="start the Dagster UI and daemon on the lakehouse")
    _add_locations(ui)
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ui.add_argument("--port", type=int, default=3000, help="port to listen on")

    forget = commands.add_parser("forget-user", help="GDPR erasure of one user, everywhere")
    _add_locations(forget)
    from pipelines import erasure

    erasure.add_arguments(forget)

    generate = commands.add_parser("generate", help="write realistic sample landing data")
    from pipelines import generate as generate_module

    generate_module.add_arguments(generate)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from orchestration.runner import run_lakehouse

    landing = _require(args.landing, "--landing", "LAKEHOUSE_LANDING")
    root = _require(args.lakehouse, "--lakehouse", "LAKEHOUSE_ROOT")
    dates = [parse_date(d) for d in args.dates or []]
    threshold = (
        args.gate_threshold if args.gate_threshold is not None else gate_threshold_from_env()
    )
    if not 0 <= threshold <= 1:
        raise UserError(f"--gate-threshold must be between 0 and 1, got {threshold}")

    # The Dagster job in this process: the same assets and checks as a UI or scheduled run.
    result = run_lakehouse(
        landing,
        root,
        dates,
        threshold,
        progress=lambda m: print(f"[lakehouse] {m}", flush=True),
        verbose=args.debug,
    )
    for day, gate in sorted(result.gate.items()):
        state = "ok" if gate["gate_passed"] else "GATE FAILED"
        print(
            f"[lakehouse] {day}: {gate['records']} records, {gate['failed_rules_1_8']} "
            f"quarantined by rules 1-8 ({gate['failed_share']:.1%}) - {state}"
        )
    for day in result.gate_failed_dates:
        gate = result.gate[day]
        print(
            f"lakehouse: gate failed for ingest date {day}: {gate['failed_share']:.1%} of "
            f"{gate['records']} records failed (threshold {threshold:.0%}); top reasons: "
            f"{gate['top_reasons']}. Its valid records are held back.",
            file=sys.stderr,
        )
    for failure in result.blocking_failures:
        if not failure.target.endswith(":batch_gate"):
            print(
                f"lakehouse: check {failure.target} failed: {failure.description}", file=sys.stderr
            )
    for failure in result.step_failures:
        print(f"lakehouse: step {failure}", file=sys.stderr)
    if result.not_materialized:
        print(f"lakehouse: not materialized: {'; '.join(result.not_materialized)}", file=sys.stderr)
    print(f"[lakehouse] done in {result.seconds:.1f}s (Dagster run(s) {', '.join(result.run_ids)})")
    return 0 if result.ok else 1


def cmd_ui(args: argparse.Namespace) -> int:
    from orchestration.ui import serve

    landing = _require(args.landing, "--landing", "LAKEHOUSE_LANDING")
    root = _require(args.lakehouse, "--lakehouse", "LAKEHOUSE_ROOT")
    return serve(landing, root, args.host, args.port)


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
