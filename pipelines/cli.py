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

    generate = commands.add_parser("generate", help="write realistic sample landing data")
    from pipelines import generate as generate_module

    generate_module.add_arguments(generate)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run import resolve_dates, run_pipeline
    from pipelines.spark import get_spark
    from pipelines.storage_checks import ensure_writable

    landing = _require(args.landing, "--landing", "LAKEHOUSE_LANDING")
    root = _require(args.lakehouse, "--lakehouse", "LAKEHOUSE_ROOT")
    dates = [parse_date(d) for d in args.dates or []]
    threshold = (
        args.gate_threshold if args.gate_threshold is not None else gate_threshold_from_env()
    )
    if not 0 <= threshold <= 1:
        raise UserError(f"--gate-threshold must be between 0 and 1, got {threshold}")

    # Check the user's inputs before paying for a Spark start.
    dates = resolve_dates(landing, dates)
    ensure_writable(root)
    spark = get_spark()
    result = run_pipeline(
        spark, landing, root, dates, threshold, progress=lambda m: print(f"[lakehouse] {m}")
    )
    for day, outcome in sorted(result.silver.outcomes.items()):
        state = "ok" if outcome.gate_passed else "GATE FAILED"
        print(
            f"[lakehouse] {day}: {outcome.records} records, {outcome.failed} quarantined by "
            f"rules 1-8 ({outcome.failed_share:.1%}) - {state}"
        )
    for day in result.failed_dates:
        outcome = result.silver.outcomes[day]
        print(
            f"lakehouse: gate failed for ingest date {day}: {outcome.failed_share:.1%} of "
            f"{outcome.records} records failed (threshold {threshold:.0%}); top reasons: "
            f"{outcome.top_reasons()}. Its valid records are held back.",
            file=sys.stderr,
        )
    print(f"[lakehouse] done in {result.seconds.get('total', 0):.1f}s")
    return 0 if result.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
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
