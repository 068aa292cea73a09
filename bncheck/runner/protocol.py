"""The request and the reply between bncheck and the sandboxed child: JSON plus .npy, no code.

One file each way::

    MAGIC | 8-byte little-endian length L | L bytes of JSON | .npy arrays | END

The JSON holds the structure; an array is ``{"$npy": k}``, the k-th ``.npy`` record
after it (``numpy.lib.format``, never pickled). Anything else that is not JSON data
becomes ``{"$type": "module.Name"}``. The end marker tells a complete reply from one
cut short by a crash or a limit.

The reader is the parent's defence: it opens only a regular file (no symlink), caps
the file, the JSON and every array by size before reading it, accepts only numeric
dtypes, and turns anything malformed into ``BadReply``, never into an exception of
its own. This module imports nothing from bncheck: the child loads it by file path.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
from typing import IO, Any

import numpy as np

__all__ = ["END", "MAGIC", "BadReply", "read", "write"]

MAGIC = b"BNCHECK1\n"
END = b"BNCHECK-END\n"
_MAX_JSON = 8 << 20
_NUMERIC = "biuf"


class BadReply(ValueError):
    """The file is not a complete, well-formed message within its caps."""


def _encode(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"$npy": len(arrays) - 1}
    if isinstance(value, np.generic):
        return _encode(value.item(), arrays)
    if isinstance(value, dict):
        return {str(k): _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}  # JSON has no inf or nan
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"$type": type(value).__module__ + "." + type(value).__qualname__}


def write(f: IO[bytes], message: Any) -> None:
    """Write ``message`` (dicts, lists, numbers, strings, numeric arrays) to ``f``."""
    arrays: list[np.ndarray] = []
    header = json.dumps(_encode(message, arrays), allow_nan=False).encode("utf-8")
    for a in arrays:  # before writing anything: a refused message leaves ``f`` untouched
        if a.dtype.kind not in _NUMERIC or a.dtype.fields is not None:
            raise TypeError(f"cannot send an array of dtype {a.dtype}")
    f.write(MAGIC + struct.pack("<Q", len(header)) + header)
    for a in arrays:  # asarray, not ascontiguousarray: that one makes a 0-d array 1-d
        _write_npy(f, np.asarray(a, order="C"))
    f.write(END)
    f.flush()


def _write_npy(f: IO[bytes], a: np.ndarray) -> None:
    """A version 1.0 .npy record, as numpy writes it, in the one form ``_HEADER`` reads."""
    text = f"{{'descr': '{a.dtype.str}', 'fortran_order': False, 'shape': {a.shape!r}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"  # numpy pads the header to 64 bytes
    f.write(_NPY_MAGIC + b"\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1"))
    f.write(a.tobytes())


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise BadReply("the message is cut short")
    return data


# The one header numpy's writer produces for a plain numeric array, matched exactly: no
# literal_eval of text from the child (and 5x faster than numpy's own header parser).
_HEADER = re.compile(
    r"\{'descr': '([<>|=][biuf][1248])', 'fortran_order': (True|False), "
    r"'shape': \(((?:[0-9]{1,19}, )*(?:[0-9]{1,19},?)?)\), \} *\n"
)
_NPY_MAGIC = b"\x93NUMPY"


def _array(f: IO[bytes], budget: list[int]) -> np.ndarray:
    head = _read_exact(f, 8)
    if head[:6] != _NPY_MAGIC or head[6:] not in (b"\x01\x00", b"\x02\x00", b"\x03\x00"):
        raise BadReply("an array that is not in .npy format (version 1, 2 or 3)")
    size = struct.unpack("<H" if head[6] == 1 else "<I", _read_exact(f, 2 if head[6] == 1 else 4))
    if size[0] > 4096:
        raise BadReply(f"an array header of {size[0]} bytes")
    match = _HEADER.fullmatch(_read_exact(f, size[0]).decode("latin-1"))
    if match is None:
        raise BadReply("an array header bncheck does not accept: only numbers, in plain arrays")
    descr, fortran, dims = match.groups()
    dtype = np.dtype(descr)
    shape = tuple(int(n) for n in dims.replace(",", " ").split())
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > budget[0]:
        raise BadReply(f"an array of {nbytes} bytes is over the size limit")
    budget[0] -= nbytes
    data = _read_exact(f, nbytes)
    try:  # an empty array may still claim dimensions numpy cannot hold, e.g. (0, 10**30)
        array = np.frombuffer(data, dtype=dtype).reshape(
            shape, order="F" if fortran == "True" else "C"
        )
    except (ValueError, OverflowError) as exc:
        raise BadReply(f"an array of shape {shape}: {exc}") from None
    return array.copy()  # writable, owning its memory


def _decode(value: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    if depth > 64:
        raise BadReply("the message is nested too deeply")
    if isinstance(value, dict):
        if set(value) == {"$npy"}:
            k = value["$npy"]
            if type(k) is not int or not 0 <= k < len(arrays):  # True is an int, not an index
                raise BadReply(f"a reference to array {k!r}, which is not there")
            return arrays[k]
        if set(value) == {"$float"}:
            return float(value["$float"]) if value["$float"] in ("inf", "-inf", "nan") else None
        return {k: _decode(v, arrays, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays, depth + 1) for v in value]
    return value


def _count(value: Any) -> int:
    if isinstance(value, dict):
        if set(value) == {"$npy"}:
            return 1
        return sum(_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count(v) for v in value)
    return 0


def read(path: str | os.PathLike[str], max_bytes: int) -> Any:
    """The message in the file at ``path``, or ``BadReply``; nothing in it is executed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BadReply("there is no reply") from None
    except OSError as exc:
        raise BadReply(f"the reply cannot be opened: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(fd)  # before fdopen, which raises IsADirectoryError (and keeps the fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadReply("the reply is not a regular file")
        raise BadReply(f"the reply is {info.st_size} bytes, over the limit of {max_bytes}")
    with os.fdopen(fd, "rb") as f:
        if _read_exact(f, len(MAGIC)) != MAGIC:
            raise BadReply("the reply does not start with bncheck's header")
        (length,) = struct.unpack("<Q", _read_exact(f, 8))
        if length > min(_MAX_JSON, info.st_size):
            raise BadReply(f"a header of {length} bytes")
        try:
            header = json.loads(_read_exact(f, length).decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise BadReply(f"the header is not JSON: {exc}") from None
        try:
            count = _count(header)
        except RecursionError:
            raise BadReply("the message is nested too deeply") from None
        budget = [info.st_size]  # the arrays are in the file: f.read(n) would allocate n
        arrays = [_array(f, budget) for _ in range(count)]
        if f.read(len(END) + 1) != END:
            raise BadReply("the reply does not end with bncheck's end marker")
    try:
        return _decode(header, arrays)
    except RecursionError:
        raise BadReply("the message is nested too deeply") from None
