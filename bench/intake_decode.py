"""What intake's whole-image check costs the web process for a phone photo.

Intake decodes every byte of an upload's pixel data before accepting it (a truncated or
damaged file is refused at once, `CORRUPT_IMAGE`). For a 12 MP JPEG (4000x3000, quality 90,
4.2 MB) it prints the CPU time of a full-size decode and of `inspect_image`, which decodes
JPEGs at 1/8 scale (every entropy-coded byte read, most of the inverse DCT skipped).

    PYTHONPATH=. .venv/bin/python bench/intake_decode.py

On the 2-core development machine: full-size 93 ms, `inspect_image` 42 ms (CPU, best of 7).
"""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from facefit.align.intake import inspect_image


def phone_photo() -> bytes:
    """Gradients plus sensor-like noise: compresses like a photo, unlike a flat image."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:3000, 0:4000]
    pixels = np.stack([cols / 4000 * 255, rows / 3000 * 255, (rows + cols) / 7000 * 255], 2)
    pixels = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def cpu_ms(run, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times) * 1000


def main() -> None:
    data = phone_photo()

    def full_size() -> None:
        with Image.open(io.BytesIO(data)) as image:
            image.load()

    print(f"12 MP JPEG, {len(data) / 1e6:.1f} MB")
    print(f"full-size decode: {cpu_ms(full_size):.0f} ms CPU")
    print(f"inspect_image:    {cpu_ms(lambda: inspect_image(data)):.0f} ms CPU")


if __name__ == "__main__":
    main()
