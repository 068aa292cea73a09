"""Finding submissions: every layout an instructor has, zip safety, ids and digests."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from bncheck.errors import UsageError
from bncheck.grade.discover import (
    Caps,
    find_submissions,
    folder_digest,
    safe_name,
    submission_of,
)
from bncheck.grade.model import Submission

LAYER = "def batchnorm_backward(dout, cache):\n    return None\n"


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


def _files(sub: Submission) -> dict[str, str]:
    return {
        p.relative_to(sub.root).as_posix(): p.read_text()
        for p in sorted(sub.root.rglob("*"))
        if p.is_file()
    }


def _by_id(subs: list[Submission]) -> dict[str, Submission]:
    assert [s.student for s in subs] == sorted(s.student for s in subs)
    return {s.student: s for s in subs}


def _zip(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(folder).as_posix())
    return archive


# ------------------------------------------------------------------ layouts


def test_folder_per_student_and_file_per_student(tmp_path: Path) -> None:
    cls = _write(
        tmp_path / "class",
        {
            "alice/layers.py": LAYER,
            "alice/cs231n/fast_layers.py": "x = 1\n",
            "alice/notes.txt": "not code",
            "bob/layers.py": LAYER + "# bob\n",
            "bob/.DS_Store": b"\x00\x01",
            "bob/__pycache__/layers.cpython-311.pyc": b"junk",
            "__MACOSX/bob/._layers.py": b"junk",
            ".hidden/layers.py": LAYER,
            "carol.py": LAYER + "# carol\n",
            "README.txt": "instructions",
            "dave/report.pdf": b"%PDF",  # no .py file: still a student
        },
    )
    subs = _by_id(find_submissions(cls, tmp_path / "work"))
    assert list(subs) == ["alice", "bob", "carol", "dave"]
    assert _files(subs["alice"]) == {"layers.py": LAYER, "cs231n/fast_layers.py": "x = 1\n"}
    assert _files(subs["bob"]) == {"layers.py": LAYER + "# bob\n"}
    assert _files(subs["carol"]) == {"carol.py": LAYER + "# carol\n"}
    assert _files(subs["dave"]) == {}
    assert subs["alice"].origin == "folder" and subs["carol"].origin == "file"
    for sub in subs.values():  # a fresh folder under work, one per student
        assert sub.root.is_relative_to(tmp_path / "work")
        assert sub.root.name == safe_name(sub.student)
        assert sub.digest == folder_digest(sub.root)
    assert len({s.root for s in subs.values()}) == 4


def test_links_in_a_student_folder_are_not_copied(tmp_path: Path) -> None:
    cls = _write(tmp_path / "class", {"alice/layers.py": LAYER, "bob/layers.py": LAYER})
    (cls / "bob" / "alice.py").symlink_to(cls / "alice" / "layers.py")
    (cls / "bob" / "passwd.py").symlink_to("/etc/passwd")
    (cls / "bob" / "alice_dir").symlink_to(cls / "alice", target_is_directory=True)
    subs = _by_id(find_submissions(cls, tmp_path / "work"))
    assert _files(subs["bob"]) == {"layers.py": LAYER}


def test_wrapper_folders(tmp_path: Path) -> None:
    # a class of one: the folder named is the class, its folder the student
    one = _write(tmp_path / "one", {"alice/layers.py": LAYER})
    assert [s.student for s in find_submissions(one, tmp_path / "w1")] == ["alice"]
    # an unzipped Gradescope export inside the folder named
    export = _write(
        tmp_path / "dl",
        {"export_1/submission_metadata.yml": "", "export_1/submission_5/layers.py": LAYER},
    )
    assert [s.student for s in find_submissions(export, tmp_path / "w2")] == ["submission_5"]


def test_canvas_download(tmp_path: Path) -> None:
    cls = _write(
        tmp_path / "canvas",
        {
            "doejane_12345_67890_layers.py": LAYER + "# jane\n",
            "doejane_12345_67891_helpers.py": "h = 1\n",
            # late, resubmitted: Canvas appends -1 to the later upload of layers.py
            "smithbob_LATE_222_333_layers.py": LAYER + "# first\n",
            "smithbob_LATE_222_334_layers-1.py": LAYER + "# second\n",
            # two students with one name part: both keep their Canvas user id
            "leeann_1_5_layers.py": LAYER + "# ann 1\n",
            "leeann_2_6_layers.py": LAYER + "# ann 2\n",
            "nopy_9_10_layers.ipynb": "{}",  # no .py: still a student (0, could not load)
            ".DS_Store": b"\x00",
        },
    )
    subs = _by_id(find_submissions(cls, tmp_path / "work"))
    assert list(subs) == ["doejane", "leeann_1", "leeann_2", "nopy", "smithbob"]
    assert _files(subs["doejane"]) == {"layers.py": LAYER + "# jane\n", "helpers.py": "h = 1\n"}
    assert _files(subs["smithbob"]) == {"layers.py": LAYER + "# second\n"}
    assert _files(subs["leeann_2"]) == {"layers.py": LAYER + "# ann 2\n"}
    assert _files(subs["nopy"]) == {}
    assert subs["doejane"].origin == "canvas user 12345"


def test_canvas_with_a_stranger_is_a_usage_error(tmp_path: Path) -> None:
    cls = _write(tmp_path / "c", {"doejane_1_2_layers.py": LAYER, "grader.py": "x = 1\n"})
    with pytest.raises(UsageError, match=r"grader\.py") as info:
        find_submissions(cls, tmp_path / "work")
    assert info.value.code == "mixed-layout"


def test_moodle_download(tmp_path: Path) -> None:
    cls = _write(
        tmp_path / "moodle",
        {
            "Jane Doe_12345_assignsubmission_file_/layers.py": LAYER,
            "Jane Doe_12345_assignsubmission_onlinetext_/onlinetext.html": "<p>hi</p>",
            "John Roe_555_assignsubmission_file_/hw2/layers.py": LAYER + "# john\n",
        },
    )
    subs = _by_id(find_submissions(cls, tmp_path / "work"))
    assert list(subs) == ["Jane Doe_12345", "John Roe_555"]
    assert _files(subs["Jane Doe_12345"]) == {"layers.py": LAYER}
    assert _files(subs["John Roe_555"]) == {"hw2/layers.py": LAYER + "# john\n"}
    assert subs["Jane Doe_12345"].root.name == safe_name("Jane Doe_12345") != "Jane Doe_12345"


def test_gradescope_export(tmp_path: Path) -> None:
    cls = _write(
        tmp_path / "export",
        {
            "submission_metadata.yml": "submission_1:\n  :submitters:\n  - :name: Jane\n",
            "submission_1/layers.py": LAYER,
            "submission_22/hw/layers.py": LAYER + "# 22\n",
        },
    )
    subs = _by_id(find_submissions(cls, tmp_path / "work"))
    assert list(subs) == ["submission_1", "submission_22"]
    assert _files(subs["submission_22"]) == {"hw/layers.py": LAYER + "# 22\n"}
    assert subs["submission_1"].origin == "gradescope export"


@pytest.mark.parametrize(
    ("files", "prefix", "ids"),
    [
        ({"alice/layers.py": LAYER, "bob.py": LAYER}, "submissions/", ["alice", "bob"]),
        ({"doejane_1_2_layers.py": LAYER}, "", ["doejane"]),
        (
            {"submission_metadata.yml": "x: 1\n", "submission_7/layers.py": LAYER},
            "assignment_3_export/",
            ["submission_7"],
        ),
        ({"X Y_1_assignsubmission_file_/layers.py": LAYER}, "", ["X Y_1"]),
        ({"alice/layers.py": LAYER, "bob/layers.py": LAYER}, "", ["alice", "bob"]),
    ],
)
def test_zip_of_each_layout(
    tmp_path: Path, files: dict[str, str], prefix: str, ids: list[str]
) -> None:
    archive = _zip(_write(tmp_path / "src", files), tmp_path / "class.zip", prefix)
    subs = find_submissions(archive, tmp_path / "work")
    assert [s.student for s in subs] == ids
    assert all(s.root.is_relative_to(tmp_path / "work") for s in subs)
    assert all(_files(s) for s in subs)


# ------------------------------------------------------------------ zip safety


def _raw_zip(archive: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return archive


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("../evil.py", "out of the folder"),
        ("alice/../../evil.py", "out of the folder"),
        ("/tmp/evil.py", "absolute"),
        ("C:/evil.py", "absolute"),
        ("..\\evil.py", "out of the folder"),
    ],
)
def test_zip_slip_and_absolute_paths_are_refused(tmp_path: Path, name: str, what: str) -> None:
    archive = _raw_zip(tmp_path / "c.zip", [("alice/layers.py", b"x = 1\n"), (name, b"pwn\n")])
    with pytest.raises(UsageError, match=what) as info:
        find_submissions(archive, tmp_path / "work")
    assert info.value.code == "unsafe-archive"
    assert not (tmp_path / "evil.py").exists()
    assert not list((tmp_path / "work").rglob("layers.py"))  # nothing extracted at all


def test_symlink_members_are_never_made(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("bob/layers.py")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _raw_zip(
        tmp_path / "c.zip",
        [("alice/layers.py", LAYER.encode()), (link, b"../alice/layers.py")],
    )
    subs = _by_id(find_submissions(archive, tmp_path / "work"))
    assert _files(subs["alice"]) == {"layers.py": LAYER}
    assert _files(subs["bob"]) == {}  # its only member was a link: bob appears, with nothing
    assert not any(p.is_symlink() for p in (tmp_path / "work").rglob("*"))


def _lie_about_size(archive: Path, claimed: int) -> None:
    """Patch the uncompressed size in the local header and the central directory."""
    data = bytearray(archive.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 22 : local + 26] = claimed.to_bytes(4, "little")
    data[central + 24 : central + 28] = claimed.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def test_a_bomb_that_claims_small_is_refused_on_the_bytes_written(tmp_path: Path) -> None:
    archive = _raw_zip(tmp_path / "bomb.zip", [("alice/layers.py", b"\0" * (4 << 20))])
    assert archive.stat().st_size < 20_000  # 4 MiB of zeros deflate to a few KiB
    _lie_about_size(archive, 100)
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 100
    with pytest.raises(UsageError, match=r"alice/layers\.py") as info:
        find_submissions(archive, tmp_path / "work")
    assert info.value.code == "unsafe-archive"
    written = sum(p.stat().st_size for p in (tmp_path / "work").rglob("*") if p.is_file())
    assert written <= 100


def test_size_and_count_caps(tmp_path: Path) -> None:
    big = [("alice/layers.py", LAYER.encode()), ("bob/layers.py", b"#" * 50_000)]
    archive = _raw_zip(tmp_path / "c.zip", big)
    # a member larger than any student's share is skipped; bob still appears, with nothing
    subs = _by_id(find_submissions(archive, tmp_path / "w1", Caps(member_bytes=10_000)))
    assert _files(subs["alice"]) == {"layers.py": LAYER}
    assert _files(subs["bob"]) == {}
    with pytest.raises(UsageError, match="MiB") as info:
        find_submissions(archive, tmp_path / "w2", Caps(total_bytes=20_000))
    assert info.value.code == "archive-too-large"
    with pytest.raises(UsageError, match="2 entries; bncheck extracts at most 1") as info:
        find_submissions(archive, tmp_path / "w3", Caps(members=1))
    assert info.value.code == "archive-too-large"


def test_student_byte_budget(tmp_path: Path) -> None:
    cls = _write(tmp_path / "c", {"alice/a.py": "a = 1\n", "alice/big.py": "#" * 5000})
    subs = _by_id(find_submissions(cls, tmp_path / "work", Caps(student_bytes=1000)))
    assert _files(subs["alice"]) == {"a.py": "a = 1\n"}


def test_duplicate_members_and_broken_archives(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive = _raw_zip(tmp_path / "d.zip", [("a/x.py", b"1"), ("a/x.py", b"2")])
    with pytest.raises(UsageError, match="another member"):
        find_submissions(archive, tmp_path / "w1")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UsageError, match=r"neither a folder nor a \.zip"):
        find_submissions(broken, tmp_path / "w2")


# ------------------------------------------------------------------ errors


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        find_submissions(tmp_path / "missing", tmp_path / "work")
    single = tmp_path / "layers.py"
    single.write_text(LAYER)
    with pytest.raises(UsageError, match="bncheck verify FILE"):
        find_submissions(single, tmp_path / "work")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no submissions") as info:
        find_submissions(tmp_path / "empty", tmp_path / "work")
    assert info.value.code == "no-submissions"
    both = _write(tmp_path / "both", {"alice.py": LAYER, "alice/layers.py": LAYER})
    with pytest.raises(UsageError, match="both a folder and a file") as info:
        find_submissions(both, tmp_path / "work")
    assert info.value.code == "duplicate-student"


def test_work_folder_inside_the_submissions_is_refused(tmp_path: Path) -> None:
    cls = _write(tmp_path / "c", {"alice/layers.py": LAYER})
    with pytest.raises(UsageError, match="inside the submissions"):
        find_submissions(cls, cls / "out" / "work")


def test_ids_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    cls = _write(tmp_path / "c", {"Alice/layers.py": LAYER, "alice/layers.py": LAYER})
    if len(list(cls.iterdir())) < 2:
        pytest.skip("this file system folds case: the two folders are one")
    with pytest.raises(UsageError, match="share output files"):
        find_submissions(cls, tmp_path / "work")


# ------------------------------------------------------------------ ids and digests


def test_safe_name() -> None:
    assert safe_name("alice") == "alice"
    assert safe_name("doe-jane_2.v1") == "doe-jane_2.v1"
    unsafe = ["Jane Doe_1", "Jane_Doe_1", "../etc", "..", ".", "", "CON", "a/b", "a\\b", "José"]
    names = [safe_name(s) for s in unsafe]
    assert len(set(names)) == len(names)  # injective, even for "Jane Doe_1" vs "Jane_Doe_1"
    for name in names:
        assert name and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)
        assert not name.startswith(".") and "/" not in name
    assert safe_name("Jane Doe_1").startswith("Jane_Doe_1-")
    assert len(safe_name("x" * 500)) < 100


def test_control_characters_are_cleaned_from_ids(tmp_path: Path) -> None:
    cls = _write(tmp_path / "c", {"evil\x1b[31m/layers.py": LAYER, "ok/layers.py": LAYER})
    ids = [s.student for s in find_submissions(cls, tmp_path / "work")]
    assert ids == ["evil?[31m", "ok"]


def test_digest_changes_with_the_files_and_only_with_them(tmp_path: Path) -> None:
    cls = _write(tmp_path / "c", {"alice/layers.py": LAYER, "bob/layers.py": LAYER})

    def digests(work: str) -> dict[str, str]:
        return {s.student: s.digest for s in find_submissions(cls, tmp_path / work)}

    first = digests("w1")
    assert first["alice"] == first["bob"]  # same files, same digest; the id is not in it
    assert digests("w2") == first  # another run, another work folder: the same
    (cls / "alice" / ".DS_Store").write_bytes(b"junk")
    (cls / "alice" / "notes.txt").write_text("not graded")
    assert digests("w3") == first
    (cls / "alice" / "layers.py").write_text(LAYER + "# changed\n")
    changed = digests("w4")
    assert changed["alice"] != first["alice"] and changed["bob"] == first["bob"]
    (cls / "bob" / "layers.py").rename(cls / "bob" / "layer.py")  # a rename is a change
    assert digests("w5")["bob"] != first["bob"]


def test_submission_of_one_folder(tmp_path: Path) -> None:
    folder = _write(tmp_path / "submission", {"layers.py": LAYER, ".git/config": "x"})
    sub = submission_of(folder, "student", tmp_path / "work", origin="gradescope")
    assert _files(sub) == {"layers.py": LAYER}
    assert sub.origin == "gradescope" and sub.digest == folder_digest(sub.root)
