"""The notebooks run against a real lakehouse (the contract example) and show their plots.

The notebooks run in a kernel of this interpreter, as a data engineer would run them from
notebooks/, with LAKEHOUSE_ROOT pointing at the example's lakehouse. They share one kernel,
so one Spark JVM (a kernel and its JVM each took ≈ 20 s to start and warm up here), and
each starts from an empty namespace (`%reset -f`): a notebook that uses a name it does not
import or define itself fails as it would in a fresh kernel. Committed notebooks carry no
outputs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "lakehouse-tests"


def test_the_three_notebooks_exist():
    names = [p.stem for p in PATHS]
    assert names == ["01_gold_metrics", "02_quarantine", "03_training_set"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec for this very interpreter (a user's own `python3` spec may differ)."""
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    return base


@pytest.fixture(scope="module")
def kernel(example_run: dict, kernel_path: Path) -> Iterator[KernelManager]:
    """One kernel for the notebooks, started in notebooks/ on the example's lakehouse."""
    extra = os.environ.get("LAKEHOUSE_SPARK_CONF", "")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUPYTER_PATH", str(kernel_path))
        env.setenv("LAKEHOUSE_ROOT", str(example_run["root"]))
        # The kernel starts its own Spark; a small driver, next to the test session's.
        env.setenv("LAKEHOUSE_SPARK_CONF", f"{extra};spark.driver.memory=1g".lstrip(";"))
        # ZeroMQ over Unix sockets, not TCP: a TCP kernel picks its ports by binding port 0
        # and binds them again later, and in between a JVM of the other test worker can take
        # one; the client's ZeroMQ greeting then broke that JVM's `collect` (tests/ports.py).
        manager = KernelManager(
            kernel_name=KERNEL, transport="ipc", ip=str(kernel_path / "kernel-ipc")
        )
        manager.start_kernel(cwd=str(NOTEBOOKS))
        try:
            yield manager
        finally:
            manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs_and_plots(path: Path, kernel: KernelManager):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))  # an empty namespace
    client = NotebookClient(notebook, km=kernel, timeout=900)
    client.execute()  # raises CellExecutionError, with the cell and traceback, on an error

    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} showed no plot"
