"""The audit hook's table: what it lets a submission do, and what it refuses.

The hook cannot be removed once installed, so it is never installed here: each test
runs a short ``python -I -c`` script that loads ``hook.py`` by file path (as the
sandboxed child does), makes a fresh folder its working directory, installs the hook
and attempts operations. The script prints one line, ``OUTCOMES {...}``, a Python
literal (``repr``: ``json`` may not be imported before the hook, since one test
imports it after and another forbids it), which the test parses.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

HOOK = Path(__file__).resolve().parents[2] / "bncheck" / "runner" / "hook.py"
REFUSED = "bncheck's sandbox refused"

# argv: hook.py, work folder, log file ("" for none), table updates, extra readable folder
PREAMBLE = """
import ast, importlib.util, os, site, sys
HOOK, WORK, LOG, TABLE, READABLE = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("_bncheck_sandbox_hook", HOOK)
hook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hook)
import numpy
os.chdir(WORK)
OUTSIDE = os.path.dirname(WORK)
JSON_BEFORE = "json" in sys.modules
LOG_FD = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if LOG else -1
table = dict(hook.DEFAULT_TABLE, **ast.literal_eval(TABLE))
readable = [sys.prefix, sys.base_prefix, *site.getsitepackages(), *([READABLE] if READABLE else [])]
hook.install([WORK], readable, table, LOG_FD)
OUT = {"json imported before the hook": ("ok", repr(JSON_BEFORE))}

def attempt(name, action):
    try:
        value = action()
    except BaseException as exc:  # no isinstance: one script replaces it
        mro = type(exc).__mro__
        kinds = [k for k in (PermissionError, ModuleNotFoundError) if k in mro]
        OUT[name] = ("raised", type(exc).__name__, str(exc)[:300], [k.__name__ for k in kinds])
    else:
        OUT[name] = ("ok", repr(value)[:300])
"""
EPILOGUE = """
print("OUTCOMES", repr(OUT), flush=True)
"""


def _run(
    tmp: Path,
    body: str,
    *,
    table: dict[str, Any] | None = None,
    log: Path | None = None,
    readable: Path | None = None,
) -> dict[str, tuple[Any, ...]]:
    work = tmp / "work"
    work.mkdir()
    script = PREAMBLE + textwrap.dedent(body) + EPILOGUE
    argv = [str(HOOK), str(work), str(log or ""), repr(table or {}), str(readable or "")]
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("OUTCOMES ")]
    assert len(lines) == 1, done.stdout[-3000:]  # two would mean a fork got through
    outcomes: dict[str, tuple[Any, ...]] = ast.literal_eval(lines[0].removeprefix("OUTCOMES "))
    return outcomes


def _assert_refused(outcome: tuple[Any, ...], kind: str = "PermissionError") -> str:
    assert outcome[0] == "raised", f"allowed: {outcome}"
    _, name, message, kinds = outcome
    assert REFUSED in message, f"{name}: {message}"
    assert kind in kinds, f"{name} is not a {kind}"
    return str(message)


def _assert_ok(outcome: tuple[Any, ...]) -> Any:
    assert outcome[0] == "ok", f"refused: {outcome}"
    return ast.literal_eval(outcome[1])


# -- the default table: one child makes every attempt -----------------------------------

BATTERY = """
import collections, gc

def write():
    with open("w.txt", "w") as f:
        return f.write("hi")

def read():
    with open("w.txt") as f:
        return f.read()

def rename():
    os.rename("w.txt", "r.txt")
    os.replace("r.txt", "w.txt")
    return sorted(os.listdir("."))

def subfolder():
    os.mkdir("sub")
    with open("sub/x.txt", "w") as f:
        f.write("x")
    os.remove("sub/x.txt")
    os.rmdir("sub")
    return os.path.exists("sub")

def npy():
    numpy.save("a.npy", numpy.arange(3))
    return numpy.load("a.npy").tolist()

def scipy_norm():
    import scipy.linalg
    return float(scipy.linalg.norm([3.0, 4.0]))

def json_dumps():
    import json
    return json.dumps({"a": 1})

def namedtuple():
    Pair = collections.namedtuple("Pair", "x y")
    return Pair(1, 2).x + Pair(1, 2).y

def read_passwd():
    with open("/etc/passwd") as f:
        return f.read()

def write_absolute():
    with open(OUTSIDE + "/absolute.txt", "w") as f:
        f.write("escaped")

def write_dotdot():
    with open("../dotdot.txt", "w") as f:
        f.write("escaped")

def os_open_outside():
    os.close(os.open("../os-open.txt", os.O_WRONLY | os.O_CREAT, 0o600))

def rename_outside():
    os.rename("w.txt", "../renamed.txt")

def spawn():
    pid = os.posix_spawn("/bin/true", ["true"], {})
    return os.waitpid(pid, 0)[1]

def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return os.waitpid(pid, 0)[1]

def socket_new():
    import socket
    socket.socket().close()

def connect():
    import socket
    socket.create_connection(("127.0.0.1", 9), timeout=1).close()

def urlopen():
    import urllib.request
    urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)

def run():
    import subprocess
    return subprocess.run(["true"]).returncode

def import_bncheck():
    import bncheck
    return bncheck.__file__

def ctypes_dlopen():
    import ctypes
    return ctypes.CDLL(None)

def add_hook():
    seen = []
    sys.addaudithook(lambda event, args: seen.append(event))
    with open("w.txt") as f:  # an audited event the new hook would see
        f.read()
    return len(seen)

def setrlimit():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, resource.getrlimit(resource.RLIMIT_CORE))

class Sneaky(str):
    pass

def open_str_subclass():
    with open(Sneaky("sneaky.txt"), "w") as f:
        f.write("x")

class Turns:
    # outside when C converts it (first call), inside when anything asks again
    calls = 0
    def __init__(self, first, later):
        self.first, self.later = first, later
    def __fspath__(self):
        Turns.calls += 1
        return self.first if Turns.calls == 1 else self.later

def open_pathlike_outside_first():
    Turns.calls = 0
    with open(Turns(OUTSIDE + "/turns.txt", "turns.txt"), "w") as f:
        f.write("x")

def os_open_pathlike_outside_first():
    Turns.calls = 0
    os.close(os.open(Turns(OUTSIDE + "/turns-os.txt", "turns-os.txt"), os.O_WRONLY | os.O_CREAT))

def open_pathlike_inside_first():
    Turns.calls = 0
    with open(Turns("turns-in.txt", OUTSIDE + "/turns-late.txt"), "w") as f:
        f.write("x")
    return sorted(n for n in os.listdir(".") if n.startswith("turns"))

for name, action in [
    ("write", write), ("read", read), ("rename", rename), ("subfolder", subfolder),
    ("npy", npy), ("listdir", lambda: sorted(os.listdir("."))),
    ("numpy", lambda: (numpy.arange(6.0).reshape(2, 3) @ numpy.ones(3)).tolist()),
    ("json", json_dumps), ("namedtuple", namedtuple),
    ("read /etc/passwd", read_passwd), ("write absolute", write_absolute),
    ("write ../", write_dotdot), ("os.open ../", os_open_outside),
    ("chdir /", lambda: os.chdir("/")), ("listdir /", lambda: os.listdir("/")),
    ("remove outside", lambda: os.remove(OUTSIDE + "/victim.txt")),
    ("rename outside", rename_outside),
    ("symlink", lambda: os.symlink("/etc/passwd", "link")),
    ("link", lambda: os.link("w.txt", "hard")),
    ("import bncheck", import_bncheck),
    ("socket", socket_new), ("create_connection", connect), ("urlopen", urlopen),
    ("subprocess.run", run), ("os.system", lambda: os.system("true")),
    ("os.fork", fork), ("os.posix_spawn", spawn),
    ("os.kill", lambda: os.kill(os.getpid(), 0)),
    ("os.killpg", lambda: os.killpg(os.getpgid(0), 0)),
    ("ctypes.CDLL", ctypes_dlopen), ("gc.get_objects", lambda: len(gc.get_objects())),
    ("sys.settrace", lambda: sys.settrace(None)),
    ("sys.addaudithook", add_hook),
    ("resource.setrlimit", setrlimit),
    ("open str subclass", open_str_subclass),
    ("open PathLike, outside first", open_pathlike_outside_first),
    ("os.open PathLike, outside first", os_open_pathlike_outside_first),
    ("open PathLike, inside first", open_pathlike_inside_first),
]:
    attempt(name, action)
if SCIPY:
    attempt("scipy", scipy_norm)
"""
HAS_SCIPY = importlib.util.find_spec("scipy") is not None


@pytest.fixture(scope="module")
def battery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[Any, ...]]]:
    tmp = tmp_path_factory.mktemp("battery")
    (tmp / "victim.txt").write_text("keep me", encoding="utf-8")
    body = f"SCIPY = {HAS_SCIPY!r}\n" + BATTERY
    return tmp, _run(tmp, body)


def test_json_is_not_imported_before_the_hook(battery: tuple[Path, dict]) -> None:
    assert _assert_ok(battery[1]["json imported before the hook"]) is False


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("write", 2),
        ("read", "hi"),
        ("rename", ["w.txt"]),
        ("subfolder", False),
        ("npy", [0, 1, 2]),
        ("numpy", [3.0, 12.0]),
        ("json", '{"a": 1}'),
        ("namedtuple", 3),
        ("open PathLike, inside first", ["turns-in.txt"]),
    ],
)
def test_allowed(battery: tuple[Path, dict], name: str, expected: Any) -> None:
    assert _assert_ok(battery[1][name]) == expected


def test_listing_the_work_folder_is_allowed(battery: tuple[Path, dict]) -> None:
    assert set(_assert_ok(battery[1]["listdir"])) == {"w.txt", "a.npy"}


@pytest.mark.skipif(not HAS_SCIPY, reason="scipy is not installed")
def test_importing_scipy_after_the_hook_is_allowed(battery: tuple[Path, dict]) -> None:
    assert _assert_ok(battery[1]["scipy"]) == 5.0


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("read /etc/passwd", "read /etc/passwd"),
        ("write absolute", "absolute.txt (outside its working copy)"),
        ("write ../", "dotdot.txt (outside its working copy)"),
        ("os.open ../", "os-open.txt (outside its working copy)"),
        ("chdir /", "os.chdir /"),
        ("listdir /", "os.listdir /"),
        ("remove outside", "victim.txt (outside its copy)"),
        ("rename outside", "renamed.txt (outside its copy)"),
        ("symlink", "symbolic link"),
        ("link", "hard link"),
        ("socket", "network (socket.__new__)"),
        ("create_connection", "network (socket."),
        ("urlopen", "network (urllib.Request)"),
        ("subprocess.run", "start a process"),
        ("os.system", "start a process"),
        ("os.fork", "start a process"),
        ("os.posix_spawn", "start a process"),
        ("os.kill", "send a signal"),
        ("os.killpg", "send a signal"),
        ("ctypes.CDLL", "ctypes (ctypes.dlopen)"),
        ("gc.get_objects", "gc.get_objects"),
        ("sys.settrace", "sys.settrace"),
        ("resource.setrlimit", "resource limits"),
        ("open str subclass", "a path given as Sneaky"),
        ("open PathLike, outside first", "turns.txt (outside its working copy)"),
        ("os.open PathLike, outside first", "turns-os.txt (outside its working copy)"),
    ],
)
def test_refused(battery: tuple[Path, dict], name: str, says: str) -> None:
    assert says in _assert_refused(battery[1][name])


def test_a_second_audit_hook_is_not_added(battery: tuple[Path, dict]) -> None:
    # CPython swallows an Exception from a hook on "sys.addaudithook" and does not add the
    # new hook, so the call returns; the refusal shows in the log (test below)
    assert _assert_ok(battery[1]["sys.addaudithook"]) == 0


def test_importing_bncheck_is_refused_as_a_missing_module(battery: tuple[Path, dict]) -> None:
    # bncheck is installed here: without the hook the import would succeed
    assert importlib.util.find_spec("bncheck") is not None
    assert "import bncheck" in _assert_refused(battery[1]["import bncheck"], "ModuleNotFoundError")


def test_nothing_was_written_or_removed_outside(battery: tuple[Path, dict]) -> None:
    tmp, _ = battery
    assert (tmp / "victim.txt").read_text(encoding="utf-8") == "keep me"
    outside = sorted(p.name for p in tmp.iterdir() if p.name != "work")
    assert outside == ["victim.txt"]
    assert not (tmp / "work" / "link").exists() and not (tmp / "work" / "hard").exists()
    assert not (tmp / "work" / "sneaky.txt").exists()


# -- replacing what the hook might have looked up -----------------------------------------

TAMPER = """
import builtins, posix, posixpath
fake = lambda *args, **kwargs: WORK + "/ok"
os.getcwd = posix.getcwd = lambda: WORK + "/a/b"  # so '../x' would seem to stay inside
for name in ("normpath", "abspath", "realpath", "join", "relpath", "commonpath"):
    setattr(posixpath, name, fake)
hook._norm = fake
real_isinstance = builtins.isinstance
builtins.isinstance = lambda *args: False  # so no open would seem to write
TARGETS = ["../tampered.txt", READABLE + "/tampered.txt"]

def write(path):
    with open(path, "w") as f:
        f.write("escaped")

def os_write(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))

for i, path in enumerate(TARGETS):
    attempt(f"open {i}", lambda: write(path))
    attempt(f"os.open {i}", lambda: os_write(path))
attempt("remove", lambda: os.remove("../victim.txt"))
attempt("still writes inside", lambda: write("inside.txt"))
builtins.isinstance = real_isinstance
"""


def test_replacing_getcwd_isinstance_or_posixpath_lets_nothing_out(tmp_path: Path) -> None:
    readable = tmp_path / "readable"  # reading is allowed there; a write must still be refused
    readable.mkdir()
    (tmp_path / "victim.txt").write_text("keep me", encoding="utf-8")
    outcomes = _run(tmp_path, TAMPER, readable=readable)
    for name in ("open 0", "os.open 0", "open 1", "os.open 1", "remove"):
        _assert_refused(outcomes[name])
    _assert_ok(outcomes["still writes inside"])
    assert not (tmp_path / "tampered.txt").exists()
    assert list(readable.iterdir()) == []
    assert (tmp_path / "victim.txt").exists()


# -- the log --------------------------------------------------------------------------------

LOGGED = """
import socket

def swallow(action):
    try:
        action()
    except Exception:  # the submission hides the refusal; the log still has it
        return "swallowed"

def read_passwd():
    with open("/etc/passwd") as f:
        f.read()

def write_inside():
    with open("inside.txt", "w") as f:
        f.write("fine")

def import_bncheck():
    import bncheck

attempt("passwd", lambda: swallow(read_passwd))
attempt("inside", lambda: swallow(write_inside))
attempt("listdir", lambda: swallow(lambda: os.listdir("/")))
attempt("socket", lambda: swallow(socket.socket))
attempt("system", lambda: swallow(lambda: os.system("true")))
attempt("import", lambda: swallow(import_bncheck))
attempt("kill", lambda: swallow(lambda: os.kill(os.getpid(), 0)))
attempt("addaudithook", lambda: sys.addaudithook(lambda event, args: None))  # CPython swallows
"""


def test_a_caught_refusal_is_still_logged(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    outcomes = _run(tmp_path, LOGGED, log=log)
    assert _assert_ok(outcomes["inside"]) is None  # allowed, so nothing to swallow
    for name in ("passwd", "listdir", "socket", "system", "import", "kill"):
        assert _assert_ok(outcomes[name]) == "swallowed"
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in lines] == [
        "open",
        "os.listdir",
        "socket.__new__",
        "os.system",
        "import",
        "os.kill",
        "sys.addaudithook",
    ]
    assert all(line.count("\t") == 1 for line in lines)
    assert lines[0].split("\t")[1].startswith("read /etc/passwd")
    assert lines[4].split("\t")[1] == "import bncheck"


# -- the table is honoured ------------------------------------------------------------------

POLICY = """
def socket_new():
    import socket
    s = socket.socket()
    s.close()
    return "made"

def import_json():
    import json
    return json.dumps([1])

def import_bncheck():
    import bncheck

attempt("socket", socket_new)
attempt("json", import_json)
attempt("json.decoder", lambda: __import__("json.decoder"))
attempt("bncheck", import_bncheck)
attempt("os.system", lambda: os.system("true"))
"""


def test_network_true_allows_a_socket_and_nothing_more(tmp_path: Path) -> None:
    outcomes = _run(tmp_path, POLICY, table={"network": True})
    assert _assert_ok(outcomes["socket"]) == "made"
    assert _assert_ok(outcomes["json"]) == "[1]"
    _assert_refused(outcomes["bncheck"], "ModuleNotFoundError")
    _assert_refused(outcomes["os.system"])


def test_forbidden_imports_are_refused(tmp_path: Path) -> None:
    outcomes = _run(tmp_path, POLICY, table={"forbid_imports": ["bncheck", "json"]})
    assert _assert_ok(outcomes["json imported before the hook"]) is False
    assert "import json" in _assert_refused(outcomes["json"], "ModuleNotFoundError")
    assert "import json" in _assert_refused(outcomes["json.decoder"], "ModuleNotFoundError")
    _assert_refused(outcomes["bncheck"], "ModuleNotFoundError")
    assert "network (socket.__new__)" in _assert_refused(outcomes["socket"])


# -- no directory descriptor: the "open" event carries no dir_fd ---------------------------

DIR_FD = """
import shutil, sqlite3
with open("file.txt", "w") as f:
    f.write("x")
os.mkdir("sub")
FILE_FD = os.open("file.txt", os.O_RDONLY)

def climb():  # red team's h00: a Python root's fd, names resolved against it
    base = os.open(sys.prefix, os.O_RDONLY)
    depth = sys.prefix.count("/") + 2
    for _ in range(depth):
        os.makedirs("d", exist_ok=True)
        os.chdir("d")
    root = os.open("/".join([".."] * depth), os.O_RDONLY, dir_fd=base)
    fd = os.open(OUTSIDE.lstrip("/") + "/climbed.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=root)
    os.write(fd, b"escaped")

def attach():
    db = sqlite3.connect(":memory:")
    db.execute("attach database '" + OUTSIDE + "/attached.db' as a")
    db.execute("create table a.t(x)")

def read_file():
    fd = os.open("file.txt", os.O_RDONLY)
    try:
        return os.read(fd, 10)
    finally:
        os.close(fd)

def create_file():
    os.close(os.open("sub/new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return sorted(os.listdir("sub"))

here = os.getcwd()
attempt("climb", climb)
os.chdir(here)
for name, action in [
    ("os.open .", lambda: os.open(".", os.O_RDONLY)),
    ("os.open sub/", lambda: os.open("sub", os.O_RDONLY)),
    ("os.open sub/../sub", lambda: os.open("sub/../sub", os.O_RDONLY)),
    ("os.open sys.prefix", lambda: os.open(sys.prefix, os.O_RDONLY)),
    ("os.open bytes dir", lambda: os.open(b"sub", os.O_RDONLY)),
    ("O_DIRECTORY", lambda: os.open("file.txt", os.O_RDONLY | os.O_DIRECTORY)),
    ("O_PATH", lambda: os.open("file.txt", os.O_PATH)),
    ("fchdir", lambda: os.fchdir(FILE_FD)),
    ("chdir fd", lambda: os.chdir(FILE_FD)),
    ("listdir fd", lambda: os.listdir(FILE_FD)),
    ("scandir fd", lambda: list(os.scandir(FILE_FD))),
    ("fwalk", lambda: list(os.fwalk("."))),
    ("sqlite3 file", lambda: sqlite3.connect("inside.db")),
    ("sqlite3 outside", lambda: sqlite3.connect(OUTSIDE + "/outside.db")),
    ("sqlite3 :memory: ATTACH", attach),
    ("read a file with os.open", read_file),
    ("create a file with os.open", create_file),
    ("open() a file", lambda: open("file.txt").read()),
    ("walk", lambda: [sorted(d) for _, d, _ in os.walk(".")]),
    ("scandir .", lambda: sorted(e.name for e in os.scandir("."))),
    ("chdir sub and back", lambda: (os.chdir("sub"), os.chdir(".."), os.getcwd() == here)[2]),
]:
    attempt(name, action)
"""


@pytest.fixture(scope="module")
def dir_fd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[Any, ...]]]:
    tmp = tmp_path_factory.mktemp("dir_fd")
    return tmp, _run(tmp, DIR_FD)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("climb", "as a descriptor"),
        ("os.open .", "as a descriptor"),
        ("os.open sub/", "as a descriptor"),
        ("os.open sub/../sub", "as a descriptor"),
        ("os.open sys.prefix", "as a descriptor"),
        ("os.open bytes dir", "as a descriptor"),
        ("O_DIRECTORY", "as a descriptor"),
        ("O_PATH", "as a descriptor"),
        ("fchdir", "os.chdir of a directory descriptor"),
        ("chdir fd", "os.chdir of a directory descriptor"),
        ("listdir fd", "os.listdir of a directory descriptor"),
        ("scandir fd", "os.scandir of a directory descriptor"),
        ("fwalk", "as a descriptor"),
        ("sqlite3 file", "SQLite"),
        ("sqlite3 outside", "SQLite"),
        ("sqlite3 :memory: ATTACH", "SQLite"),
    ],
)
def test_no_directory_descriptor_and_no_sqlite(
    dir_fd: tuple[Path, dict], name: str, says: str
) -> None:
    assert says in _assert_refused(dir_fd[1][name])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("read a file with os.open", b"x"),
        ("create a file with os.open", ["new.txt"]),
        ("open() a file", "x"),
        ("walk", [["sub"], []]),
        ("scandir .", ["file.txt", "sub"]),
        ("chdir sub and back", True),
    ],
)
def test_files_and_folders_by_name_still_work(
    dir_fd: tuple[Path, dict], name: str, expected: Any
) -> None:
    assert _assert_ok(dir_fd[1][name]) == expected


def test_nothing_was_created_outside_through_a_descriptor(dir_fd: tuple[Path, dict]) -> None:
    tmp, _ = dir_fd
    assert sorted(p.name for p in tmp.iterdir()) == ["work"]
    assert not (tmp / "work" / "inside.db").exists()


PROC = """
def read(path):
    with open(path, "rb") as f:
        return len(f.read(100)) > 0

for name, path in [
    ("cwd/..", "/proc/self/cwd/../victim.txt"),
    ("root", "/proc/self/root/etc/passwd"),
    ("root/..", "/proc/self/../self/root/../self/status"),
    ("fd", "/proc/self/fd/0"),
    ("task cwd", "/proc/self/task/" + str(os.getpid()) + "/cwd/../victim.txt"),
]:
    attempt(name, lambda: read(path))
attempt("listdir fd", lambda: os.listdir("/proc/self/fd"))
attempt("os.open cwd", lambda: os.open("/proc/self/cwd", os.O_RDONLY))
attempt("status", lambda: read("/proc/self/status"))
"""


def test_the_links_of_proc_self_are_refused(tmp_path: Path) -> None:
    (tmp_path / "victim.txt").write_text("another student's answer", encoding="utf-8")
    outcomes = _run(tmp_path, PROC, readable=Path("/proc/self"))
    for name in ("cwd/..", "root", "root/..", "fd", "task cwd", "listdir fd", "os.open cwd"):
        assert "a link /proc resolves elsewhere" in _assert_refused(outcomes[name]), name
    assert _assert_ok(outcomes["status"]) is True  # /proc/self itself: numpy reads it


# -- the log: whatever descriptor reaches it ----------------------------------------------

LOG_GUARD = """
import fcntl
attempt("refused first", lambda: os.listdir("/"))
COPY = os.dup(LOG_FD)
attempt("fcntl dup F_SETFL", lambda: fcntl.fcntl(COPY, fcntl.F_SETFL, 0))
attempt("fcntl log F_SETFL", lambda: fcntl.fcntl(LOG_FD, fcntl.F_SETFL, 0))
attempt("ioctl dup", lambda: fcntl.ioctl(COPY, 0x40049409, COPY))  # FICLONE
attempt("ftruncate dup", lambda: os.ftruncate(COPY, 0))
attempt("pwrite dup", lambda: os.pwrite(COPY, b"XXXX", 0))  # O_APPEND: appends
with open("other.txt", "w") as f:
    attempt("fcntl other file", lambda: fcntl.fcntl(f.fileno(), fcntl.F_GETFL))
"""


def test_a_dup_of_the_log_cannot_clear_o_append(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    outcomes = _run(tmp_path, LOG_GUARD, log=log)
    for name in ("fcntl dup F_SETFL", "fcntl log F_SETFL", "ioctl dup"):
        assert "change the sandbox's log" in _assert_refused(outcomes[name]), name
    _assert_refused(outcomes["ftruncate dup"])
    _assert_ok(outcomes["fcntl other file"])
    lines = log.read_bytes().split(b"\n")
    assert lines[0].startswith(b"os.listdir\t"), lines[:2]  # the first refusal is intact


CLOSE_LOG = """
os.close(LOG_FD)
os.open("decoy.log", os.O_WRONLY | os.O_CREAT, 0o600)  # takes the log's number
try:
    os.listdir("/")
except BaseException:
    pass
print("STILL RUNNING", flush=True)
"""


def test_a_refusal_with_the_log_closed_or_replaced_ends_the_child(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    log = tmp_path / "audit.log"
    script = PREAMBLE + textwrap.dedent(CLOSE_LOG) + EPILOGUE
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(HOOK), str(work), str(log), "{}", ""],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 71, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "STILL RUNNING" not in done.stdout
    assert "the audit log was tampered with" in done.stderr
    assert (work / "decoy.log").read_bytes() == b""
