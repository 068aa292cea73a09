"""Every route of issue 7 by which a submission got a wrong gradient PASSED, or changed
something outside its sandbox: each must now fail or be refused, and leave nothing behind.

The submissions are in ``hostile/``; ``{{NAME}}`` placeholders are filled with this
test's own paths and pids. Each run has a short deadline; the processes a test starts
itself (a stand-in "parent", a listening socket) are ended by the test, by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bncheck.check.api import VerifyOptions, verify
from bncheck.check.evidence import CheckOptions
from bncheck.cli import main
from bncheck.errors import SubmissionError
from bncheck.examples import path as example
from bncheck.runner import namespaces

HOSTILE = Path(__file__).parent / "hostile"
OPTIONS = VerifyOptions(checks=CheckOptions(autograd="off"), timeout=30, seed=0)
NAMESPACES = namespaces.prefix() != ()  # this machine may make them (unshare)


@pytest.fixture(autouse=True, params=["namespaces", "fallback"])
def layers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every route, with the namespaces and without them (a machine that refuses unshare)."""
    if request.param == "fallback":
        monkeypatch.setitem(namespaces._PROBE, "prefix", ())
    elif not NAMESPACES:
        pytest.skip("unshare is not permitted on this machine")
    return str(request.param)


def _submission(tmp_path: Path, name: str, **values: object) -> Path:
    text = (HOSTILE / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    assert "{{" not in text, f"unfilled placeholder in {name}"
    folder = tmp_path / "student"
    folder.mkdir(exist_ok=True)
    target = folder / name
    target.write_text(text, encoding="utf-8")
    return target


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The sandbox's own folders go to a temp dir of this test: none may be left there."""
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(sandboxes))
    monkeypatch.setenv("BNCHECK_CACHE_DIR", str(tmp_path / "cache"))
    yield sandboxes
    assert list(sandboxes.iterdir()) == [], "a sandbox folder was left behind"


def _fails(result_or_error: object) -> None:
    if isinstance(result_or_error, SubmissionError):
        return
    assert not result_or_error.passed, str(result_or_error)  # type: ignore[attr-defined]


def _run(path: Path, **options: object) -> object:
    import dataclasses

    try:
        return verify(str(path), dataclasses.replace(OPTIONS, **options))
    except SubmissionError as error:
        return error


# --- no code from the child runs in the parent -----------------------------------------


def test_pickle_payloads_in_bn_param_and_cache_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    result = _run(_submission(tmp_path, "pickle_reduce.py", MARKER=marker))
    _fails(result)
    assert not marker.exists(), "a payload from the child ran (in the parent or the child)"
    failed = {c.name for c in result.failures}  # type: ignore[attr-defined]
    assert "dx" in failed and "running stats" in failed


def test_an_atexit_hook_cannot_rewrite_the_reply(tmp_path: Path) -> None:
    result = _run(_submission(tmp_path, "atexit_forge.py"))
    _fails(result)
    assert "dx" in {c.name for c in result.failures}  # type: ignore[attr-defined]


def test_replacing_the_reply_writer_is_a_crash_not_a_pass(tmp_path: Path) -> None:
    error = _run(_submission(tmp_path, "replace_writer.py"))
    assert isinstance(error, SubmissionError)
    assert error.code == "submission-crashed" and "before bncheck could read" in error.message


FORGED = {
    "replies-not-a-list": '{"ok": True, "replies": 5}',
    "too-few-replies": '{"ok": True, "replies": [{}]}',
    "replies-of-junk": '{"ok": True, "replies": [{"returned": "x"}] * ops}',
    "items-not-arrays": '{"ok": True, "replies": [{"returned": {"tuple": True, "items": [1]}}]'
    " * ops}",
    "error-not-a-dict": '{"ok": False, "error": ["x"]}',
    "neither": '{"ok": "yes"}',
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_forged_well_formed_reply_is_exit_2_never_an_internal_error(
    tmp_path: Path, name: str, capsys
) -> None:
    sub = _submission(tmp_path, "forged_reply.py", MESSAGE=FORGED[name])
    assert main(["verify", str(sub), "--autograd", "off", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err


# --- the child gets nothing it can use against the parent ------------------------------


def test_the_emitted_code_cache_cannot_be_poisoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bncheck.emit import load

    monkeypatch.setattr(load, "_LOADED", {})  # this process read the real cache already
    cache = tmp_path / "cache"
    assert verify(str(example("plain_correct.py")), OPTIONS).passed  # fills the cache
    files = {p: p.read_bytes() for p in cache.glob("emitted-*.py")}
    assert files, "the cache was not written"
    _fails(_run(_submission(tmp_path, "poison_cache.py", CACHE_DIR=cache)))
    assert {p: p.read_bytes() for p in cache.glob("emitted-*.py")} == files
    load._LOADED.clear()  # a later run reads the cache again: still right
    assert not verify(str(example("bug_dx_missing_dvar.py")), OPTIONS).passed
    assert verify(str(example("plain_correct.py")), OPTIONS).passed


def test_calling_bncheck_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    error = _run(_submission(tmp_path, "calls_bncheck.py"))
    assert isinstance(error, SubmissionError)
    assert error.code == "refused"
    assert "imported bncheck: it must compute its own gradient" in error.message


def test_a_refusal_caught_by_the_submission_still_fails_it(tmp_path: Path) -> None:
    result = _run(_submission(tmp_path, "catches_refusal.py"))
    _fails(result)
    rows = {c.name: c for c in result.checks}  # type: ignore[attr-defined]
    assert rows["dx"].passed, "its gradient is right: only the sandbox row fails"
    assert rows["sandbox"].passed is False and "imported bncheck" in rows["sandbox"].message


def test_the_request_is_not_in_the_submissions_working_directory(tmp_path: Path) -> None:
    _fails(_run(_submission(tmp_path, "sees_request.py")))


def test_files_outside_the_private_copy_do_not_change(tmp_path: Path) -> None:
    outside, secret = tmp_path / "outside", tmp_path / "secret.txt"
    outside.mkdir()
    secret.write_text("another student's answer", encoding="utf-8")
    home_before = sorted(os.listdir(Path.home()))
    sub = _submission(tmp_path, "touches_files.py", OUTSIDE=outside, SECRET=secret)
    listing = sorted(os.listdir(sub.parent))
    result = _run(sub)
    _fails(result)
    assert list(outside.iterdir()) == []
    assert sorted(os.listdir(sub.parent)) == listing  # its own folder: a copy ran
    assert not (tmp_path / "changed").exists()
    assert sorted(os.listdir(Path.home())) == home_before
    sandbox = {c.name: c for c in result.checks}["sandbox"]  # type: ignore[attr-defined]
    assert sandbox.passed is False and "outside" in sandbox.message


# --- the parent and the result file ----------------------------------------------------


@contextlib.contextmanager
def _stand_in_parent() -> Iterator[int]:
    """A process of ours for the submission to aim its signals at, ended by pid."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_forged_result_file_and_signals_change_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.json"
    with _stand_in_parent() as parent:
        sub = _submission(tmp_path, "forge_result.py", JSON=out, PARENT=parent)
        code = main(["verify", str(sub), "--autograd", "off", "--seed", "0", "--json", str(out)])
        assert _state(parent) in "SR", "the submission stopped or killed a process"
    assert code == 1
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["passed"] is False
    sandbox = next(c for c in data["checks"] if c["name"] == "sandbox")
    assert sandbox["passed"] is False
    assert "Traceback" not in capsys.readouterr().err


# --- limits ----------------------------------------------------------------------------


def test_a_hang_ends_at_the_deadline(tmp_path: Path) -> None:
    start = time.monotonic()
    error = _run(_submission(tmp_path, "hangs.py"), timeout=2.0)
    assert isinstance(error, SubmissionError) and error.code == "timeout"
    assert time.monotonic() - start < 2.0 + 2.0


def test_a_20_gb_allocation_is_cut_with_a_clear_message(tmp_path: Path) -> None:
    error = _run(_submission(tmp_path, "allocates.py"), timeout=20.0)
    assert isinstance(error, SubmissionError) and error.code == "memory-limit"
    assert "ran out of memory" in error.message


def test_a_1_gb_print_is_cut_with_a_clear_message(tmp_path: Path) -> None:
    start = time.monotonic()
    error = _run(_submission(tmp_path, "prints.py"), timeout=20.0)
    assert isinstance(error, SubmissionError) and error.code == "output-limit"
    assert "printed more than 64 MiB" in error.message
    assert time.monotonic() - start < 15


def _survivors(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


FORGED_PROGRESS = {  # what the submission writes over the record -> what the message says
    "b'garbage!'": "which of them was running is unknown",
    "b'9' * 4096": "which of them was running is unknown",
    "b'\\n' * 8": "which of them was running is unknown",
    "b'0       '": "did not finish importing",  # wrong, and only words a message
    "b'2       '": "batchnorm_backward did not return within 3 s (call 2 of",  # it is in 1
}


@pytest.mark.parametrize("record", sorted(FORGED_PROGRESS))
def test_a_forged_progress_record_only_changes_the_timeout_message(
    tmp_path: Path, record: str
) -> None:
    start = time.monotonic()
    error = _run(_submission(tmp_path, "forges_progress.py", RECORD=record), timeout=3.0)
    assert isinstance(error, SubmissionError) and error.code == "timeout"
    assert FORGED_PROGRESS[record] in error.message
    assert time.monotonic() - start < 3.0 + 3.0


def test_no_process_outlives_the_check(tmp_path: Path) -> None:
    token = f"bncheck-test-{uuid.uuid4().hex}"
    start = time.monotonic()
    error = _run(_submission(tmp_path, "spawns.py", TOKEN=token), timeout=3.0)
    assert isinstance(error, SubmissionError) and error.code == "timeout"
    assert time.monotonic() - start < 3.0 + 2.0
    time.sleep(0.2)
    left = _survivors(token)
    for pid in left:  # started by this test's submission: end them before failing
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if namespaces.prefix() == ():
        pytest.xfail("no PID namespace: a process started by fork_exec (no audit event) survives")
    assert left == [], f"processes outlived the check: {left}"


def test_the_network_is_closed(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        sub = _submission(tmp_path, "network.py", PORT=server.getsockname()[1])
        result = _run(sub)
        _fails(result)
        with pytest.raises(socket.timeout):
            conn, _ = server.accept()
            conn.close()
    sandbox = {c.name: c for c in result.checks}["sandbox"]  # type: ignore[attr-defined]
    assert sandbox.passed is False and "network" in sandbox.message


def test_escape_sequences_never_reach_the_terminal(tmp_path: Path, capsys) -> None:
    code = main(["verify", str(_submission(tmp_path, "escapes.py")), "--autograd", "off"])
    captured = capsys.readouterr()
    assert code == 2
    text = captured.out + captured.err
    assert "raised ValueError" in text
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text


def test_the_deadline_holds_while_the_parent_is_busy() -> None:
    """verify computes references while the child runs; a hang is killed on time anyway."""
    from bncheck.runner import Job, Limits, start

    job = Job(HOSTILE / "hangs.py", {"backward": "batchnorm_backward"}, [])
    running = start(job, Limits(wall=1.0))
    try:
        time.sleep(1.0 + 2.0)  # the parent, busy elsewhere
        assert running.process.poll() is not None, "the child outlived its deadline"
        with pytest.raises(SubmissionError) as info:
            running.wait()
        assert info.value.code == "timeout"
    finally:
        running.close()


# --- red team, round 2: dir_fd, sqlite, the audit log (hook.py) -------------------------

HOSTILE_TIMEOUT = 10.0  # each of these runs is bounded


def test_a_directory_descriptor_is_refused_and_nothing_is_written_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = outside / "dir-fd-marker.txt"
    result = _run(_submission(tmp_path, "dir_fd_escape.py", MARKER=marker), timeout=HOSTILE_TIMEOUT)
    _fails(result)
    assert not marker.exists(), "a name resolved against a directory descriptor got out"
    assert list(outside.iterdir()) == []
    if not isinstance(result, SubmissionError):
        sandbox = {c.name: c for c in result.checks}["sandbox"]  # type: ignore[attr-defined]
        assert sandbox.passed is False and "as a descriptor" in sandbox.message


def test_sqlite_creates_no_file(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = outside / "sqlite-marker.db"
    result = _run(_submission(tmp_path, "sqlite_escape.py", MARKER=marker), timeout=HOSTILE_TIMEOUT)
    _fails(result)
    assert list(outside.iterdir()) == [], "SQLite created a file outside the sandbox"
    if not isinstance(result, SubmissionError):
        sandbox = {c.name: c for c in result.checks}["sandbox"]  # type: ignore[attr-defined]
        assert sandbox.passed is False and "SQLite" in sandbox.message


def test_a_correct_gradient_cannot_erase_its_refusals_from_the_log(tmp_path: Path) -> None:
    result = _run(_submission(tmp_path, "erases_log.py"), timeout=HOSTILE_TIMEOUT)
    _fails(result)
    if not isinstance(result, SubmissionError):
        rows = {c.name: c for c in result.checks}  # type: ignore[attr-defined]
        assert rows["dx"].passed, "its gradient is right: only the sandbox row fails"
        assert rows["sandbox"].passed is False and "imported bncheck" in rows["sandbox"].message


def test_a_correct_gradient_cannot_close_the_log_to_hide_a_refusal(tmp_path: Path) -> None:
    result = _run(_submission(tmp_path, "closes_log.py"), timeout=HOSTILE_TIMEOUT)
    assert isinstance(result, SubmissionError), f"not refused: {result}"
    assert result.code == "submission-crashed"


def test_the_correct_example_still_passes_under_the_hook() -> None:
    assert verify(str(example("plain_correct.py")), OPTIONS).passed
    assert verify(str(example("cs231n_correct.py")), OPTIONS).passed


FORK_EXEC_WRITER = """
import _posixsubprocess, os

def _write_outside():
    argv = [b"/bin/sh", b"-c", b"echo written > {marker}"]
    pid = _posixsubprocess.fork_exec(
        argv, [b"/bin/sh"], True, (), None, None, -1, -1, -1, -1, -1, -1,
        *([-1] * 2), False, False, False, None, None, None, -1, None, False)
    os.waitpid(pid, 0)

_write_outside()
"""


def test_code_past_the_hook_cannot_write_outside_its_folders(tmp_path: Path) -> None:
    """fork_exec raises no audit event: the read-only mounts are what stop the write."""
    if not namespaces.command("/x", "/y")[len(namespaces.prefix()) :]:
        pytest.skip("the read-only file system needs root, mount and setpriv (namespaces.py)")
    marker = tmp_path / "outside" / "marker.txt"
    marker.parent.mkdir()
    source = FORK_EXEC_WRITER.replace("{marker}", str(marker))
    submission = tmp_path / "sub" / "layers.py"
    submission.parent.mkdir()
    submission.write_text(source + example("cs231n_correct.py").read_text())
    with contextlib.suppress(SubmissionError):  # a refused or failed fork_exec: either way
        verify(
            str(submission), VerifyOptions(seed=0, checks=CheckOptions(autograd="off"), timeout=20)
        )
    assert not marker.exists(), "a process the hook cannot see wrote outside the sandbox"
