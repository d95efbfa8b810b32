"""The likeness contact sheet: aligned photo | character, with the character's ranks by dlib
and by FaceNet."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CAPTION = 22  # px of text under each pair


def pick_people(queries: Sequence, n: int = 12) -> list:
    """Neutral-photo queries of `n` people, taken in turn from each gender and ethnicity."""
    groups: dict[tuple, list] = defaultdict(list)
    for q in queries:
        if q.record.expression == "neutral" and q.thumbs is not None and "rank_fit" in q.row:
            groups[(q.record.gender, q.record.ethnicity)].append(q)
    picked: list = []
    while len(picked) < n and any(groups.values()):
        for key in sorted(groups, key=str):
            if groups[key] and len(picked) < n:
                picked.append(groups[key].pop(0))
    return picked


def likeness_sheet(queries: Sequence, gallery: int, path: Path, columns: int = 4) -> None:
    """Write a PNG of aligned photo | character pairs, each captioned with its rank."""
    people = pick_people(queries)
    if not people:
        raise ValueError("no fitted neutral photo to show")
    size = people[0].thumbs[0].shape[0]
    rows = -(-len(people) // columns)
    sheet = Image.new("RGB", (columns * 2 * size, rows * (size + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, q in enumerate(people):
        x, y = (k % columns) * 2 * size, (k // columns) * (size + CAPTION)
        sheet.paste(Image.fromarray(np.hstack(q.thumbs)), (x, y))
        ranks = f"rank {q.row['rank_fit']} (FaceNet {q.row['facenet_rank_fit']})"
        caption = f"{q.record.name}  {ranks} / {gallery}"
        draw.text((x + 6, y + size + 5), caption, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
