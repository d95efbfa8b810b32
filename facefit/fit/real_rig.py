"""The game's own renderer in the fit, and the loss of its renders.

The imitator can be fooled (a vector it renders well but the game does not), so the post-search
steps and the result judge parameters by the real rig's render through the same loss terms.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from facefit.errors import SpecError
from facefit.fit.config import FitConfig
from facefit.fit.search import PhotoTargets, loss_terms, total_loss

# Renders kept for reuse within one fit (about 1 MB each at 512 px): the steps render the
# answer they keep, and the result shows that render again without drawing it twice.
KEPT_RENDERS = 64


def image_to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image.shape
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255.0).unsqueeze(0).to(device)


def frame_tensors(
    images: list[np.ndarray], landmarks68: list[np.ndarray], size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames (H, W, 3) uint8 and their 68 landmarks in pixels of a `size` frame, as tensors:
    images (B, 3, H, W) in [0, 1] and landmarks (B, 68, 2) in [0, 1], what the loss compares."""
    batch = torch.cat([image_to_tensor(image, device) for image in images])
    points = torch.stack([torch.as_tensor(lm / size, dtype=torch.float32) for lm in landmarks68])
    return batch, points.to(device)


def tensor_to_image(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    return (image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def with_option(vector: torch.Tensor, start: int, stop: int, option: int) -> torch.Tensor:
    """A copy of a (D,) parameter vector with the group at [start, stop) set to `option`."""
    out = vector.clone()
    out[start:stop] = 0.0
    out[start + option] = 1.0
    return out


def one_face(targets: PhotoTargets, i: int) -> PhotoTargets:
    """The targets of face `i` alone, as a batch of one."""
    return type(targets)(
        features=[f[i : i + 1] for f in targets.features],
        probs=targets.probs[i : i + 1],
        weight_map=targets.weight_map[i : i + 1],
        colors={k: v[i : i + 1] for k, v in targets.colors.items()},
        landmarks=targets.landmarks[i : i + 1],
    )


class RealRig:
    """The game's renderer at the aligned frame's side and at the extractor's, and the loss
    of its renders against the photos' targets."""

    def __init__(self, extractor: torch.nn.Module, spec, device: torch.device) -> None:
        from facefit.rig.choice import make_renderer
        from facefit.rig.reference import REFERENCE_SIZE

        self.extractor, self.device = extractor, device
        self.labels, self.continuous_size = list(spec.labels), spec.continuous_size
        self.size = REFERENCE_SIZE
        self._renderer = make_renderer(REFERENCE_SIZE)
        # outlines and colours are compared at the extractor's side: drawing them there is cheaper
        self.probe = make_renderer(extractor.cfg.size)
        # class masks of the average face by option, drawn once (`fast`'s outlines)
        self.average_outlines: dict[tuple, np.ndarray] = {}
        # colour tables of the average face, drawn once: by region (`fast`'s colours) and
        # the irises' (both modes' eye colour, `facefit.fit.iris`)
        self.color_tables: dict[tuple, object] = {}
        for renderer in (self._renderer, self.probe):
            if renderer.spec.rig_id != spec.rig_id:  # FACEFIT_RIG changed under a loaded spec
                raise SpecError(
                    f"the fit's spec is rig {spec.rig_id!r} but the renderer draws "
                    f"{renderer.spec.rig_id!r}"
                )
        self._kept: OrderedDict[bytes, object] = OrderedDict()
        self._response = None  # the probe's last colour response (`color_probe`)

    def render(self, vector: torch.Tensor | np.ndarray):
        """The real rig's `Render` of a (D,) vector at the aligned frame's side."""
        values = vector.cpu().numpy() if isinstance(vector, torch.Tensor) else vector
        key = values.tobytes()
        if key not in self._kept:
            self._kept[key] = self._renderer.render(values)
            if len(self._kept) > KEPT_RENDERS:
                self._kept.popitem(last=False)
        self._kept.move_to_end(key)
        return self._kept[key]

    def color_probe(self, vector: torch.Tensor, control: str):
        """What draws `vector` at the extractor's side while only `control` changes: the
        probe's colour response where `control` is one of the rig's colours (six draws, then
        none per colour), else the probe itself."""
        if control not in self.probe.palette_controls:
            return self.probe
        values = vector.cpu().numpy()
        if self._response is None or not self._response.accepts(values):
            self._response = self.probe.color_response(values)
        return self._response

    def average_landmarks68(self) -> np.ndarray:
        """(68, 2) landmarks of the rig's average face in the aligned frame: the stored ones
        photos are aligned to where they are this rig's, else drawn (rig 3 frames its average
        head near those points, not onto them)."""
        from facefit.rig.reference import reference_landmarks68, reference_rig_id

        spec = self._renderer.spec
        if spec.rig_id == reference_rig_id():
            return reference_landmarks68(self.size)
        return self._renderer.render(spec.mean_vector()).landmarks68

    def forget(self) -> None:
        """Drop the kept renders (after a fit: the next photos share none)."""
        self._kept.clear()
        self._response = None

    def loss(self, vectors: torch.Tensor, renders: list, targets: PhotoTargets, cfg: FitConfig):
        """The fit's loss (a float per face) of `renders` of `vectors` (B, D)."""
        images, landmarks = frame_tensors(
            [r.image for r in renders], [r.landmarks68 for r in renders], self.size, self.device
        )
        with torch.no_grad():
            terms = loss_terms(
                self.extractor, images, landmarks, vectors, targets, self.labels,
                self.extractor.cfg.size, self.continuous_size,
            )  # fmt: skip
            return [float(v) for v in total_loss(terms, cfg)]
