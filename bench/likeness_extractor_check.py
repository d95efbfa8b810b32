"""Identity retrieval with our own extractor's face-interior features, a network the
recogniser's shape step never reads: each run's characters ranked against every London
person's other-expression photo (67), by the cosine of the two deepest feature maps pooled
over the face's regions (the content loss's weights, hair and background left out).

Usage: FACEFIT_RIG=human .venv/bin/python bench/likeness_extractor_check.py RUN.json ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from facefit.align import align_photo, load_photo
    from facefit.data.faces import read_manifest
    from facefit.fit.losses import region_weight_map
    from facefit.fit.real_rig import image_to_tensor
    from facefit.fit.search import to_extractor_size
    from facefit.likeness.evaluate import paired_people
    from facefit.likeness.ranking import rank_summary, target_ranks
    from facefit.nets.extractor import load_extractor
    from facefit.rig.choice import make_renderer
    from facefit.rig.spec import load_spec
    from facefit.settings import CoreSettings

    spec, renderer = load_spec(), make_renderer(512)
    extractor = load_extractor(CoreSettings.from_env().weights_dir / "extractor-lite.pt", "cpu")
    labels = list(spec.labels)

    def features(image: np.ndarray) -> np.ndarray:
        x = to_extractor_size(image_to_tensor(image, "cpu"), extractor.cfg.size)
        with torch.no_grad():
            out = extractor(x)
        weight = region_weight_map(out.probs, labels)
        weight = weight * (1 - out.probs[:, labels.index("hair")]).unsqueeze(1)
        pooled = []
        for f in out.features[-2:]:
            w = torch.nn.functional.interpolate(
                weight, size=f.shape[-2:], mode="bilinear", align_corners=False
            )
            v = (f * w).flatten(2).sum(2) / w.flatten(2).sum(2).clamp_min(1e-6)
            pooled.append(torch.nn.functional.normalize(v, dim=1))
        return torch.cat(pooled, 1)[0].numpy()

    records = read_manifest()
    people = paired_people([r for r in records if r.set == "london"])
    who = list(people)
    gallery = {
        r.name: features(align_photo(load_photo(r.image.read_bytes())).image)
        for photos in people.values()
        for r in photos.values()
    }
    for path in sys.argv[1:]:
        rows = [r for r in json.loads(Path(path).read_text())["rows"] if "error" not in r]
        ranks = []
        for row in rows:
            vector = spec.encode({"continuous": row["continuous"], "discrete": row["discrete"]})
            query = features(renderer.render(vector).image)
            names = [
                next(r for e, r in people[w].items() if e != row["expression"]).name for w in who
            ]
            stacked = np.stack([gallery[n] for n in names])
            ranks.append(int(target_ranks(query[None], stacked, [who.index(row["identity"])])[0]))
        print(json.dumps({"run": path} | rank_summary(np.array(ranks))))


if __name__ == "__main__":
    main()
