"""dlib's face-recognition ResNet in torch, its weights read from dlib's own model file.

dlib runs the network on one core in 75 to 110 ms a face on this machine's build (no BLAS,
and it holds Python's lock); torch runs the same arithmetic in about 20 ms and lets other
threads run. The descriptors are dlib's to 1e-6 (tests/unit/test_likeness.py compares them with
`dlib.face_recognition_model_v1` on photos and renders), so every number measured with dlib
stands. The network (dlib's `dnn_face_recognition_ex.cpp`): a 7x7 convolution and a max
pool, then residual blocks of 32, 64, 128, 256 and 256 filters, an average over the grid and
a 128-d linear layer without bias, on a 150 px chip placed by `dlib.get_face_chip`.

The file is dlib's serialisation: layers from the input up, each a name and its parameters
as a version-2 tensor (four compact integers for its shape, then little-endian float32s);
the convolutions' and affine layers' parameters are found by their names, in order.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CHIP_SIZE, CHIP_PADDING = 150, 0.25  # what dlib's compute_face_descriptor cuts
# (filters, blocks) of each level from the input up; every level but the first starts by
# halving the grid (its skip an average pool)
LEVELS = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))


class _Reader:
    """dlib's serialisation read forward from a position."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def integer(self) -> int:
        """dlib's compact integer: a byte with the sign (0x80) and the length, then the bytes."""
        head = self.data[self.position]
        size, negative = head & 0x0F, head & 0x80
        value = int.from_bytes(self.data[self.position + 1 : self.position + 1 + size], "little")
        self.position += 1 + size
        return -value if negative else value

    def name(self) -> bytes:
        size = self.integer()
        self.position += size
        return self.data[self.position - size : self.position]

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise ValueError(f"dlib tensor version {version}, expected 2")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.position)
        self.position += 4 * count
        return values.reshape(shape)


def _layer(name: str) -> bytes:
    return bytes([1, len(name)]) + name.encode()


def read_model_file(data: bytes) -> dict:
    """The parameters in dlib's model file: `convs` [(weight, bias, stride, padding)],
    `affines` [(scale, shift)] in order from the input up, and `fc` (256, 128)."""
    convs, affines, fc, position = [], [], None, 0
    names = [_layer(n) for n in ("con_4", "affine_", "fc_2")]
    while True:
        found = [(data.find(n, position), n) for n in names]
        found = [(at, n) for at, n in found if at >= 0]
        if not found:
            break
        at, _ = min(found)
        reader = _Reader(data, at)
        kind = reader.name()
        if kind == b"fc_2":
            outputs, inputs = reader.integer(), reader.integer()
            fc = reader.tensor().reshape(inputs, outputs)
        elif kind == b"con_4":
            params = reader.tensor().ravel()
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (
                reader.integer() for _ in range(7)
            )
            weight = params[:-filters].reshape(filters, -1, rows, cols)
            convs.append((weight, params[-filters:], (stride_y, stride_x), (pad_y, pad_x)))
        else:
            params = reader.tensor().ravel()
            half = len(params) // 2
            affines.append((params[:half], params[half:]))
        position = reader.position
    blocks = 1 + 2 * sum(n for _, n in LEVELS)
    if fc is None or len(convs) != blocks or len(affines) != blocks:
        raise ValueError(f"not dlib's face ResNet: {len(convs)} convolutions, fc {fc is not None}")
    return {"convs": convs, "affines": affines, "fc": fc}


class _ConvAffine(nn.Module):
    """A convolution and dlib's affine layer (its batch norm, frozen)."""

    def __init__(self, conv, affine) -> None:
        super().__init__()
        weight, bias, self.stride, self.padding = conv
        scale, shift = affine
        self.weight = nn.Parameter(torch.tensor(weight), requires_grad=False)
        self.bias = nn.Parameter(torch.tensor(bias), requires_grad=False)
        self.scale = nn.Parameter(torch.tensor(scale).view(1, -1, 1, 1), requires_grad=False)
        self.shift = nn.Parameter(torch.tensor(shift).view(1, -1, 1, 1), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)
        return x * self.scale + self.shift


def _summed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum over the larger of the two shapes, the smaller zero-padded at
    its end (a halved 8 px grid is 3 px by convolution and 4 by pooling, so it matters)."""
    size = [max(p, q) for p, q in zip(a.shape[1:], b.shape[1:], strict=True)]

    def grown(t: torch.Tensor) -> torch.Tensor:
        k, h, w = (s - n for s, n in zip(size, t.shape[1:], strict=True))
        return F.pad(t, (0, w, 0, h, 0, k)) if k or h or w else t

    return grown(a) + grown(b)


class _Residual(nn.Module):
    def __init__(self, first: _ConvAffine, second: _ConvAffine, halves: bool) -> None:
        super().__init__()
        self.first, self.second, self.halves = first, second, halves

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.avg_pool2d(x, 2, 2) if self.halves else x
        return F.relu(_summed(self.second(F.relu(self.first(x))), skip))


class DlibResNet(nn.Module):
    """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) descriptors, as dlib computes them."""

    # dlib's input_rgb_image: each channel less its mean, over 256
    MEAN = (122.782, 117.001, 104.298)

    def __init__(self, weights: dict) -> None:
        super().__init__()
        layers = [
            _ConvAffine(c, a) for c, a in zip(weights["convs"], weights["affines"], strict=True)
        ]
        self.stem = layers[0]
        blocks, at = [], 1
        for level, (_, count) in enumerate(LEVELS):
            for i in range(count):
                blocks.append(_Residual(layers[at], layers[at + 1], level > 0 and i == 0))
                at += 2
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Parameter(torch.tensor(weights["fc"]), requires_grad=False)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.permute(0, 3, 1, 2).float() - self.mean) / 256.0
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        return self.blocks(x).mean(dim=(2, 3)) @ self.fc

    @torch.no_grad()
    def describe(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 chips -> (N, 128) float64 descriptors."""
        out = self(torch.from_numpy(np.ascontiguousarray(chips)))
        return out.double().numpy()
