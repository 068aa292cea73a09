from __future__ import annotations

import subprocess
import sys

import pytest

from bncheck.cli import main
from bncheck.emit.artifacts import artifacts
from bncheck.spec import SPECS


def test_markdown_and_latex_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "```math" in markdown and r"\frac{\partial \ell}{\partial \mu}" in markdown
    assert main(["derive", "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert latex.startswith(r"\documentclass{article}") and r"\begin{align*}" in latex
    assert latex.isascii() and r"\(\hat{x}_{j}\)" in latex and r"\_" not in latex
    assert main(["derive", "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "mathjax@3" in page and "x̂_j" in page


def test_all_presets_print_one_document_each(capsys: pytest.CaptureFixture[str]) -> None:
    for fmt, start in (("latex", r"\documentclass"), ("html", "<!DOCTYPE html>")):
        assert main(["derive", "--norm", "all", "--format", fmt]) == 0
        assert capsys.readouterr().out.count(start) == len(SPECS)


def test_emit_prints_code_that_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "--emit", "numpy"]) == 0
    namespace: dict = {}
    exec(capsys.readouterr().out, namespace)
    assert callable(namespace["batchnorm_backward"])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_preset_in_every_format(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = SPECS[name]
    assert main(["derive", "--norm", name]) == 0
    text = capsys.readouterr().out
    assert spec.describe_group() in " ".join(text.split()) or "One group is" in text
    if not spec.center:
        assert "no mean" in text and "∂ℓ/∂μ" in text  # said once: there is none
    assert main(["derive", "--norm", name, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert f"# The {name} backward pass" in markdown
    if spec.gamma_in_group:
        assert "one element's share" in markdown and r"{\gamma}_{j}" in markdown
    assert main(["derive", "--norm", name, "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert latex.startswith(r"\documentclass{article}") and latex.isascii()
    assert main(["derive", "--norm", name, "--format", "html"]) == 0
    assert f"<h1>The {name} backward pass" in capsys.readouterr().out
    for target in ("numpy", "torch"):
        assert main(["derive", "--norm", name, "--emit", target]) == 0
        source = capsys.readouterr().out
        compile(source, f"{name}-{target}", "exec")
        groups = "" if spec.groups is None else f"G={spec.groups}, "  # (dy, x, gamma, G, eps)
        assert f"def {name}_backward(dy, x, gamma, {groups}eps=1e-05)" in source


def test_write_produces_the_artifacts(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "--norm", "all", "--write", str(tmp_path)]) == 0
    for name, spec in SPECS.items():
        for filename, text in artifacts(spec).items():
            assert (tmp_path / name / filename).read_text(encoding="utf-8") == text
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["derive", "--format", "pdf"], "unknown-format"),
        (["derive", "--emit", "jax"], "unknown-target"),
        (["derive", "--norm", "batchnrom"], "unknown-norm"),
    ],
)
def test_bad_choices_exit_2_with_one_message(argv, code, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error [{code}]" in err and "hint:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["derive", "--format", "markdwn"], "did you mean markdown? choose one of: text, markdown"),
        (["derive", "--emit", "nunpy"], "did you mean numpy? choose one of: numpy, torch"),
        (["derive", "--emit", "jax"], "hint: choose one of: numpy, torch"),
        (["derive", "--norm", "spatial_batchnrom"], "did you mean spatial_batchnorm"),
    ],
)
def test_a_misspelt_choice_gets_a_close_match(argv, hint, capsys) -> None:
    assert main(argv) == 2
    assert hint in capsys.readouterr().err


def test_write_to_an_unwritable_place_is_a_clear_error(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["derive", "--write", str(blocker)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_help_imports_no_numpy_sympy_rich_or_torch() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from bncheck.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--help']) == 0\n"
        "heavy = {'numpy', 'sympy', 'torch', 'rich'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_command_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "derive" in capsys.readouterr().out
