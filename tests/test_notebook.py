"""notebooks/tutorial.ipynb: it runs top to bottom in a fresh kernel of this interpreter, and it
is committed without outputs (a committed output could only ever be stale)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tutorial.ipynb"
CELL_TIMEOUT = 120  # seconds per cell; the whole notebook takes a few seconds here
KERNEL = "bncheck-test"
WHO = "import sys; print(sys.executable); print(sys.prefix)"
# After the demos drew their figures (on Agg), a student's own plot still shows inline.
OWN_PLOT = "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()"


def test_committed_notebook_has_no_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [], f"cell {cell.get('id')} has outputs; clear them"
        assert cell["execution_count"] is None, f"cell {cell.get('id')} has an execution count"


def _kernel_manager(folder: Path) -> Any:
    """A kernel of this very interpreter (sys.executable), whatever "python3" means on this
    machine (a user-wide kernelspec can point at another Python)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bncheck test",
                "language": "python",
                # debugpy warns about frozen modules on stderr at every kernel start
                "env": {"PYDEVD_DISABLE_FILE_VALIDATION": "1"},
            }
        ),
        encoding="utf-8",
    )
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def _html(cell: Any) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


def _errors(cell: Any) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.output_type == "error"
    ]


@pytest.mark.slow
def test_tutorial_runs_and_shows_its_results(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="the tutorial needs the extra teach")
    nbclient = pytest.importorskip("nbclient", reason="the tutorial needs the extra teach")
    pytest.importorskip("ipykernel", reason="the tutorial needs the extra teach")

    work = tmp_path / "work"
    work.mkdir()
    copy = work / NOTEBOOK.name
    shutil.copyfile(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WHO, id="which-python"))
    nb.cells.append(nbformat.v4.new_code_cell(OWN_PLOT, id="own-plot"))
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(tmp_path),
        timeout=CELL_TIMEOUT,
        allow_errors=True,  # collect them, to name every failing cell below
        resources={"metadata": {"path": str(work)}},  # the kernel's cwd
    )
    client.execute(cleanup_kc=True)  # our km: nbclient leaves its kernel and sockets open otherwise

    errors = {c.id: _errors(c) for c in nb.cells if c.cell_type == "code" and _errors(c)}
    assert not errors, errors
    cells = {c.id: c for c in nb.cells}
    executable, prefix = cells["which-python"].outputs[0]["text"].split()
    assert (executable, prefix) == (sys.executable, sys.prefix)

    shown = cells["derive"].outputs[0]["data"]
    assert "$$" in shown["text/markdown"] and r"\begin{aligned}" in shown["text/latex"]
    assert shown["text/plain"].startswith("Derivation(batchnorm:")

    bug, fix = _html(cells["bug"]), _html(cells["fix"])
    assert "FAILED" in bug and ">FAIL</td>" in bug and "Read it:" in bug
    assert "variance-path-dropped" in bug  # the diagnosis names the mistake
    assert "PASSED" in fix and "FAIL" not in fix

    for demo in ("section2", "experiment"):
        (output,) = cells[demo].outputs  # one result, nothing printed or displayed besides
        html = output["data"]["text/html"]
        assert "<pre" in html and "data:image/png;base64," in html, demo
    assert any("image/png" in o.get("data", {}) for o in cells["own-plot"].outputs)
    for cell in ("derive", "bug", "fix"):
        assert [o.output_type for o in cells[cell].outputs] == ["execute_result"], cell
