"""The data-only reply: what ``write`` sends comes back equal, and ``read`` turns every
malformed, truncated, oversized or hostile file into ``BadReply``, never into another
exception, a hang, a large allocation or an unpickled object.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bncheck.runner import protocol
from bncheck.runner.protocol import BadReply

# one file per test, rewritten by each example: the function-scoped tmp_path is safe here
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LIMIT = 1 << 20

NUMERIC = [
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64,
]  # fmt: skip
NUMERIC_DTYPES = [np.dtype(t) for t in NUMERIC] + [np.dtype(">i4"), np.dtype(">f8")]


def _encode(message: Any) -> bytes:
    buf = io.BytesIO()
    protocol.write(buf, message)
    return buf.getvalue()


def _read(tmp_path: Path, data: bytes, max_bytes: int = LIMIT) -> Any:
    path = tmp_path / "reply.bin"
    path.write_bytes(data)
    return protocol.read(path, max_bytes)


def _refused(tmp_path: Path, data: bytes, max_bytes: int = LIMIT) -> str:
    """The BadReply message for ``data``; any other outcome fails the test."""
    with pytest.raises(BadReply) as info:
        _read(tmp_path, data, max_bytes)
    return str(info.value)


def _frame(header: bytes, *records: bytes, end: bytes = protocol.END) -> bytes:
    """A message built by hand: MAGIC, the JSON header, raw .npy records, the end marker."""
    return protocol.MAGIC + struct.pack("<Q", len(header)) + header + b"".join(records) + end


def _npy_v1(header: str, payload: bytes = b"") -> bytes:
    """A .npy record with a hand-written header dict (version 1.0)."""
    text = header.encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload


def _same(decoded: Any, original: Any) -> bool:
    """Equality after a round trip: tuples become lists, NaN equals NaN, arrays bit for bit."""
    if isinstance(original, np.ndarray):
        return (
            isinstance(decoded, np.ndarray)
            and decoded.dtype == original.dtype
            and decoded.shape == original.shape
            and np.array_equal(decoded, original, equal_nan=True)
            and decoded.tobytes() == original.tobytes()  # order="C" for both
        )
    if isinstance(original, dict):
        return (
            isinstance(decoded, dict)
            and decoded.keys() == original.keys()
            and all(_same(decoded[k], v) for k, v in original.items())
        )
    if isinstance(original, (list, tuple)):
        return (
            isinstance(decoded, list)
            and len(decoded) == len(original)
            and all(_same(d, o) for d, o in zip(decoded, original, strict=True))
        )
    if isinstance(original, float):
        if math.isnan(original):
            return isinstance(decoded, float) and math.isnan(decoded)
        return type(decoded) is float and decoded == original and str(decoded) == str(original)
    return type(decoded) is type(original) and decoded == original


def _read_or_refuse(tmp_path: Path, data: bytes) -> Any:
    """``read``'s value, or None for BadReply; any other exception fails the test."""
    try:
        decoded = _read(tmp_path, data)
    except BadReply as bad:
        assert str(bad), "a BadReply says why"
        return None
    for array in _arrays_in(decoded):  # what it does return is data
        assert array.dtype.kind in "biuf" and array.flags.writeable
    return decoded


def _arrays_in(value: Any) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays_in(v)]
    if isinstance(value, list):
        return [a for v in value for a in _arrays_in(v)]
    return []


# -- strategies ------------------------------------------------------------------------


@st.composite
def numeric_arrays(draw: st.DrawFn) -> np.ndarray:
    """Numeric arrays in every layout: C, Fortran, strided views, transposes, 0-d, empty."""
    dtype: Any = draw(st.sampled_from(NUMERIC_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    a = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["C", "F", "strided", "transposed"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = a[..., ::2]
    elif layout == "transposed":
        a = a.T
    return a


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
# keys starting with "$" are the protocol's own ({"$npy": k}); bncheck's messages have none
keys = st.text(max_size=10).filter(lambda k: not k.startswith("$"))
messages = st.recursive(
    scalars | numeric_arrays(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


# -- round trip ------------------------------------------------------------------------


@FUZZ
@given(message=messages)
def test_round_trip_equals_the_original(tmp_path: Path, message: Any) -> None:
    decoded = _read(tmp_path, _encode(message))
    assert _same(decoded, message), (decoded, message)
    for array in _arrays_in(decoded):
        assert array.flags.writeable and array.flags.owndata
        array[...] = array  # writable in fact, not only in its flags


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=str)
@pytest.mark.parametrize(
    "layout", ["0-d", "empty", "empty-2d", "C", "F", "strided", "transposed", "broadcast"]
)
def test_every_numeric_dtype_and_layout(tmp_path: Path, dtype: np.dtype, layout: str) -> None:
    base = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    array = {
        "0-d": np.array(5, dtype=dtype),
        "empty": np.zeros(0, dtype=dtype),
        "empty-2d": np.zeros((3, 0), dtype=dtype),
        "C": base,
        "F": np.asfortranarray(base),
        "strided": base[:, ::2, 1:],
        "transposed": base.transpose(2, 0, 1),
        "broadcast": np.broadcast_to(base[0, 0], (3, 4)),
    }[layout]
    decoded = _read(tmp_path, _encode({"a": array}))["a"]
    assert _same(decoded, array)
    assert decoded.flags.writeable


def test_scalars_and_special_floats_survive(tmp_path: Path) -> None:
    message = {
        "inf": math.inf,
        "-inf": -math.inf,
        "nan": math.nan,
        "numpy": [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64("nan")],
        "plain": [None, True, False, 0, -0.0, 2**62, "dx: submission vs derived", ""],
        "nested": {"a": [{"b": [[], {}]}]},
        "tuple": (1, 2),
    }
    decoded = _read(tmp_path, _encode(message))
    assert decoded["inf"] == math.inf and decoded["-inf"] == -math.inf
    assert math.isnan(decoded["nan"])
    assert decoded["numpy"][:3] == [1.5, -3, True] and math.isnan(decoded["numpy"][3])
    assert [type(v) for v in decoded["numpy"][:3]] == [float, int, bool]
    assert _same(decoded["plain"], message["plain"])
    assert decoded["nested"] == {"a": [{"b": [[], {}]}]}
    assert decoded["tuple"] == [1, 2]


class _Thing:
    pass


def test_what_is_not_data_becomes_its_type_name(tmp_path: Path) -> None:
    message = {"obj": _Thing(), "fn": len, "complex": 1 + 2j, "set": {1}, "bytes": b"x"}
    decoded = _read(tmp_path, _encode(message))
    assert decoded == {
        "obj": {"$type": f"{__name__}._Thing"},
        "fn": {"$type": "builtins.builtin_function_or_method"},
        "complex": {"$type": "builtins.complex"},
        "set": {"$type": "builtins.set"},
        "bytes": {"$type": "builtins.bytes"},
    }


@pytest.mark.parametrize(
    "array",
    [
        np.array([object()], dtype=object),
        np.array(["a", "bc"]),
        np.array([b"a"]),
        np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
        np.zeros(2, dtype=np.complex128),
        np.zeros(2, dtype=np.complex64),
        np.zeros(2, dtype="datetime64[s]"),
        np.zeros(2, dtype="timedelta64[s]"),
        np.zeros(2, dtype="V8"),
    ],
    ids=lambda a: str(a.dtype),
)
def test_write_refuses_non_numeric_arrays(array: np.ndarray) -> None:
    buf = io.BytesIO()
    with pytest.raises(TypeError, match="cannot send an array of dtype"):
        protocol.write(buf, {"ok": np.zeros(3), "bad": [array]})
    assert buf.getvalue() == b"", "a refused message must leave nothing half-written"


# -- the reader's defences: fuzz -------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_are_a_bad_reply(tmp_path: Path, data: bytes) -> None:
    if data.startswith(protocol.MAGIC):  # hypothesis will not build a valid message, but
        data = b"X" + data  # only a file without the magic is certainly not one
    _refused(tmp_path, data)


@FUZZ
@given(tail=st.binary(max_size=400))
def test_bytes_after_the_magic_raise_nothing_but_bad_reply(tmp_path: Path, tail: bytes) -> None:
    _read_or_refuse(tmp_path, protocol.MAGIC + tail)


@FUZZ
@given(
    length=st.integers(0, 2**64 - 1) | st.integers(0, 200),
    header=st.binary(max_size=200) | st.text(max_size=100).map(str.encode),
    rest=st.binary(max_size=200),
)
def test_a_wrong_header_length_or_junk_header(
    tmp_path: Path, length: int, header: bytes, rest: bytes
) -> None:
    data = protocol.MAGIC + struct.pack("<Q", length) + header + rest + protocol.END
    _read_or_refuse(tmp_path, data)


def test_every_truncation_of_a_valid_message_is_refused(tmp_path: Path) -> None:
    message = {
        "ok": True,
        "replies": [
            {"items": [np.arange(6.0).reshape(2, 3), np.array(1.5), np.zeros((0, 2))]},
            {"x": np.asfortranarray(np.ones((2, 2), np.float32)), "nan": math.nan},
        ],
    }
    data = _encode(message)
    assert _same(_read(tmp_path, data), message)
    for cut in range(len(data)):
        _refused(tmp_path, data[:cut])


@FUZZ
@given(message=messages, where=st.floats(0, 1, exclude_max=True))
def test_a_truncated_message_never_returns(tmp_path: Path, message: Any, where: float) -> None:
    data = _encode(message)
    _refused(tmp_path, data[: int(where * len(data))])


@FUZZ
@given(
    message=messages,
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1),
)
def test_flipped_bytes_raise_nothing_but_bad_reply(
    tmp_path: Path, message: Any, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(_encode(message))
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    _read_or_refuse(tmp_path, bytes(data))  # a flip inside an array's data goes unseen


@pytest.mark.parametrize("position", ["magic", "length", "end"])
def test_a_flip_in_the_framing_is_refused(tmp_path: Path, position: str) -> None:
    data = bytearray(_encode({"a": np.arange(3)}))
    index = {"magic": 0, "length": len(protocol.MAGIC), "end": len(data) - 2}[position]
    data[index] ^= 0x40
    _refused(tmp_path, bytes(data))


@FUZZ
@given(
    refs=st.lists(st.integers(-3, 6) | st.sampled_from(["0", 0.0, None, [0]]), min_size=1),
    present=st.integers(0, 3),
)
def test_references_to_missing_arrays(tmp_path: Path, refs: list[Any], present: int) -> None:
    header = json.dumps({"refs": [{"$npy": k} for k in refs]}).encode()
    records = [_encode_npy(np.arange(i + 1.0)) for i in range(present)]
    data = _frame(header, *records)
    valid = len(refs) == present and all(type(k) is int and 0 <= k < present for k in refs)
    if valid:
        decoded = _read(tmp_path, data)
        assert [a.tolist() for a in decoded["refs"]] == [list(np.arange(k + 1.0)) for k in refs]
    else:
        _refused(tmp_path, data)


def _encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_a_reference_with_no_array_after_the_header(tmp_path: Path) -> None:
    # the end marker is read where the array should be, or the file ends there
    assert "not in .npy format" in _refused(tmp_path, _frame(b'{"a": {"$npy": 0}}'))
    assert "cut short" in _refused(tmp_path, _frame(b'{"a": {"$npy": 0}}', end=b""))
    message = _refused(tmp_path, _frame(b'{"a": {"$npy": 1}}', _encode_npy(np.zeros(2))))
    assert "not there" in message


_DESCR = [
    "'<f8'", "'|b1'", "'>i4'", "'<f2'", "'<c16'", "'|O'", "'<U3'", "'|S2'", "'<m8[s]'",
    "'|V8'", "[('a', '<f8')]", "('<f8', (2,))", "'bogus'", "[1, 2]", "None",
]  # fmt: skip
_SHAPE = [
    "()", "(0,)", "(3,)", "(2, 3)", "(True,)", "(-1,)", "(1000000000000,)", "(1.5,)",
    "(0, 1000000000000000000000000000000)", "('a',)", "[3]", "None", "(" + "0, " * 70 + ")",
]  # fmt: skip


@FUZZ
@given(
    descr=st.sampled_from(_DESCR),
    shape=st.sampled_from(_SHAPE),
    fortran=st.sampled_from(["True", "False", "1", "None"]),
    junk=st.sampled_from(["", " L", "\n'''", "\n  x", ", 'extra': 1"]),
    payload=st.binary(max_size=64),
)
def test_npy_headers_from_a_hostile_child(
    tmp_path: Path, descr: str, shape: str, fortran: str, junk: str, payload: bytes
) -> None:
    header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}{junk}, }}\n"
    data = _frame(b'{"a": {"$npy": 0}}', _npy_v1(header, payload))
    decoded = _read_or_refuse(tmp_path, data)
    if decoded is not None:
        assert decoded["a"].nbytes == len(payload)


@pytest.mark.parametrize(
    "record",
    [
        _npy_v1("-" * 5000 + "1\n"),  # RecursionError in ast
        _npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), L\n"),  # TokenError
        _npy_v1("{'descr': '<f8',\n 'shape': '''\n"),  # TokenError
        _npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }\n"),  # py2 warning
        _npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (True,), }\n", b"\0" * 8),
        _npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 10**30), }\n"),
        _npy_v1("{[]: 1}\n"),
        b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{}",  # a 4 GiB header
        b"\x93NUMPY\x09\x00" + b"\0" * 16,  # an unknown version
        b"\x93NUMPY\x03\x00" + struct.pack("<I", 3) + b"\xff\xfe\n",
    ],
    ids=[
        "deep-unary", "token-eof", "token-string", "py2-long", "bool-shape", "huge-empty",
        "unhashable", "huge-header-length", "version-9", "bad-utf8",
    ],
)  # fmt: skip
def test_npy_header_parser_errors_are_bad_replies(tmp_path: Path, record: bytes) -> None:
    _refused(tmp_path, _frame(b'{"a": {"$npy": 0}}', record))


@pytest.mark.parametrize("max_bytes", [LIMIT, 1 << 40])
def test_a_huge_shape_in_a_tiny_file_fails_fast(tmp_path: Path, max_bytes: int) -> None:
    for shape in ["(1000000000000,)", "(100000000000,)", "(1000000, 1000000)"]:
        header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".ljust(117)
        data = _frame(b'{"a": {"$npy": 0}}', _npy_v1(header + "\n", b"\0" * 64))
        tracemalloc.start()
        started = time.perf_counter()
        try:
            message = _refused(tmp_path, data, max_bytes)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert time.perf_counter() - started < 1.0
        assert peak < 10 << 20, f"reading {shape} allocated {peak} bytes"
        assert "over the size limit" in message


def test_deeply_nested_json_is_a_bad_reply(tmp_path: Path) -> None:
    for header in [b"[" * 100_000, b"[" * 500 + b"]" * 500, b'{"a":' * 70 + b"1" + b"}" * 70]:
        _refused(tmp_path, _frame(header))


# -- the reader's defences: the file itself --------------------------------------------


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _encode({"a": np.zeros(100)})
    assert _read(tmp_path, data, len(data))["a"].shape == (100,)
    reads: list[int] = []
    real = protocol._read_exact

    def spy(f: Any, n: int) -> bytes:
        reads.append(n)
        return real(f, n)

    monkeypatch.setattr(protocol, "_read_exact", spy)
    assert "over the limit" in _refused(tmp_path, data, len(data) - 1)
    assert reads == []


def test_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "real.bin"
    target.write_bytes(_encode({"a": 1}))
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    assert protocol.read(target, LIMIT) == {"a": 1}
    with pytest.raises(BadReply, match="cannot be opened"):
        protocol.read(link, LIMIT)


def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "reply.bin"
    os.mkfifo(fifo)
    outcome: list[BaseException | object] = []

    def reader() -> None:
        try:
            outcome.append(protocol.read(fifo, LIMIT))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout=5)
    if thread.is_alive():  # unblock the reader so that the test process can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=5)
        pytest.fail("protocol.read blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], BadReply)
    assert "not a regular file" in str(outcome[0])


def test_missing_file_and_directory_are_bad_replies(tmp_path: Path) -> None:
    assert "no reply" in _refused_path(tmp_path / "absent.bin")
    _refused_path(tmp_path)


def _refused_path(path: Path) -> str:
    with pytest.raises(BadReply) as info:
        protocol.read(path, LIMIT)
    return str(info.value)


# -- nothing is unpickled --------------------------------------------------------------


class _Opens:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves it happened."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def _pickled_npy(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([_Opens(str(marker))], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_the_marker_payload_does_create_the_marker_when_unpickled(tmp_path: Path) -> None:
    """The control for the next test: numpy's own loader would run this payload."""
    marker = tmp_path / "control"
    loaded = np.load(io.BytesIO(_pickled_npy(marker)), allow_pickle=True)
    loaded[0].close()  # the file object that unpickling opened
    assert marker.exists()


@pytest.mark.parametrize("where", ["only", "after-a-numeric-array"])
def test_an_object_array_is_never_unpickled(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "MARKER"
    evil = _pickled_npy(marker)
    if where == "only":
        data = _frame(b'{"a": {"$npy": 0}}', evil)
    else:
        data = _frame(b'{"a": {"$npy": 0}, "b": {"$npy": 1}}', _encode_npy(np.ones(2)), evil)
    assert "only numbers" in _refused(tmp_path, data)
    assert not marker.exists()


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=str)
def test_the_records_are_npy_that_numpy_reads(dtype: np.dtype) -> None:
    for array in (np.arange(6).astype(dtype).reshape(2, 3), np.array(3, dtype=dtype)):
        buf = io.BytesIO()
        protocol._write_npy(buf, np.asarray(array, order="C"))
        buf.seek(0)
        back = np.lib.format.read_array(buf, allow_pickle=False)
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array)
