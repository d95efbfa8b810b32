"""Reading a GLB file back in the tests: its JSON document, its binary chunk, an accessor."""

from __future__ import annotations

import json
import struct

import numpy as np


def read_glb(content: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<4sII", content)
    assert (magic, version, length) == (b"glTF", 2, len(content))
    json_length, kind = struct.unpack_from("<I4s", content, 12)
    assert kind == b"JSON" and json_length % 4 == 0
    document = json.loads(content[20 : 20 + json_length])
    bin_length, kind = struct.unpack_from("<I4s", content, 20 + json_length)
    assert kind == b"BIN\0"
    start = 28 + json_length
    return document, content[start : start + bin_length]


def accessor(document: dict, blob: bytes, index: int) -> np.ndarray:
    acc = document["accessors"][index]
    view = document["bufferViews"][acc["bufferView"]]
    dtype = {5126: np.float32, 5125: np.uint32}[acc["componentType"]]
    width = {"VEC3": 3, "SCALAR": 1}[acc["type"]]
    data = np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"])
    return data.reshape(acc["count"], width)
