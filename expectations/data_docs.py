"""GX Data Docs written to a local folder from the in-memory (ephemeral) GX context.

Each folder gets its own Data Docs site plus two small file-backed stores under
`<folder>/.gx/` (suites and validation results). The site index is built from those
stores, so results from earlier processes stay listed; the context's own in-memory
stores would make GX delete the pages it no longer knows about.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import great_expectations as gx
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

BATCH_IDENTIFIER = "spark_dataframe"


def _names(folder: Path) -> tuple[str, str, str]:
    tag = hashlib.sha1(str(folder).encode()).hexdigest()[:10]
    return f"lakehouse_{tag}", f"lakehouse_suites_{tag}", f"lakehouse_results_{tag}"


def _filesystem(path: Path) -> dict:
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(path)}


def _ensure_site(context: AbstractDataContext, folder: Path) -> tuple[str, str, str]:
    """Register the site and its stores once per folder and context."""
    site, suites_store, results_store = _names(folder)
    if site in context.list_data_docs_sites():
        return site, suites_store, results_store
    context.add_store(
        suites_store,
        {"class_name": "ExpectationsStore", "store_backend": _filesystem(folder / ".gx/suites")},
    )
    context.add_store(
        results_store,
        {
            "class_name": "ValidationResultsStore",
            "store_backend": _filesystem(folder / ".gx/validations"),
        },
    )
    context.add_data_docs_site(
        site,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": _filesystem(folder),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "site_section_builders": {
                "expectations": {"source_store_name": suites_store},
                "validations": {"source_store_name": results_store},
                "profiling": "None",
            },
        },
    )
    return site, suites_store, results_store


def write_data_docs(
    context: AbstractDataContext,
    folder: str | Path,
    suite: gx.ExpectationSuite,
    result: ExpectationSuiteValidationResult,
    run_name: str | None = None,
) -> str:
    """Store `result`, render its page, the suite's page and the index; return the page URL."""
    folder = Path(folder).resolve()
    site, suites_store, results_store = _ensure_site(context, folder)
    run_id = RunIdentifier(run_name=run_name or "lakehouse", run_time=datetime.now(UTC))
    suite_key = ExpectationSuiteIdentifier(name=suite.name)
    result_key = ValidationResultIdentifier(
        expectation_suite_identifier=suite_key, run_id=run_id, batch_identifier=BATCH_IDENTIFIER
    )
    # What a ValidationDefinition run would record; the page header shows it.
    result.meta.update(run_id=run_id, validation_time=run_id.run_time)
    result.meta.setdefault("batch_spec", {})["data_asset_name"] = suite.name
    context.stores[suites_store].set(suite_key, suite)
    context.stores[results_store].set(result_key, result)
    context.build_data_docs(site_names=[site], resource_identifiers=[suite_key, result_key])
    urls = context.get_docs_sites_urls(resource_identifier=result_key, site_name=site)
    return urls[0]["site_url"] if urls else (folder / "index.html").as_uri()
