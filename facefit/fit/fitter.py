"""The fitting engine (patent Fig. 4): align -> photo features -> init -> search -> judge.

`load_fitter` loads the networks once per process; `Fitter.fit_photos` fits a batch of
photos in one optimisation (the worker and `facefit eval` use batches), `fit_photo` one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facefit.errors import FacefitError, ModelError, SpecError
from facefit.fit.calibration import calibrated_config
from facefit.fit.config import FitConfig
from facefit.fit.losses import COLOR_REGIONS, color_vector, similarity_from_loss
from facefit.fit.optimize import (
    OnStep,
    PhotoTargets,
    loss_terms,
    photo_targets,
    search,
    to_extractor_size,
    total_loss,
)
from facefit.fit.params import ParamLayout
from facefit.fit.result import FitResult
from facefit.fit.skin_regions import chin_minus_cheek_lightness, chin_minus_cheek_texture
from facefit.settings import CoreSettings

logger = logging.getLogger(__name__)

PREDICTOR_CONFIG = "lite"
# The least share of the frame a colour region must cover in the photo's parse for its
# colour to be matched (1 %: a few dozen pixels at 128 px, a bald man's fringe).
MIN_REGION_SHARE = 0.01


@dataclass(frozen=True)
class CloseReading:
    """A detail reader of continuous controls and the controls it decides.

    It decides those it reads closer than the controls reader does, by their held-out errors
    on rig renders (both manifests' `per_control`): the start of `full` takes its reading
    there, as a discrete detail reader's choice is the start of its group. Mixed into the
    predictor blend instead, its reading lost half its gain to the predictor, which is at
    chance on these controls (docs/benchmarks.md).
    """

    reader: torch.nn.Module  # aligned photo (B, 3, S, S) -> (B, k) controls in [0, 1]
    outputs: torch.Tensor  # (j,) long: which of its k readings it decides
    columns: torch.Tensor  # (j,) long: where those sit among the continuous controls
    errors: torch.Tensor  # (j,) its held-out error on each of them


@dataclass(frozen=True)
class FitModels:
    """The frozen networks and what they were trained for."""

    imitator: torch.nn.Module  # params (B, D) -> (image (B, 3, s, s), landmarks (B, 68, 2))
    extractor: torch.nn.Module  # image (B, 3, e, e) -> ExtractorOutput (features, probs)
    predictor: torch.nn.Module | None  # aligned photo (B, 3, e, e) -> params (B, D)
    extractor_size: int
    models: dict[str, str]  # file name -> sha256
    # Detail readers (`facefit.nets.detail`): aligned photo (B, 3, S, S) -> logits of one
    # discrete group, read closer than the predictor can; each decides its group.
    readers: tuple[torch.nn.Module, ...] = ()
    # The controls reader (`facefit.nets.controls`): aligned photo (B, 3, S, S) -> the
    # continuous controls (B, C), read from the pixels; blended with the predictor's.
    controls: torch.nn.Module | None = None
    # Detail readers of continuous controls, each deciding the controls it reads best.
    close: tuple[CloseReading, ...] = ()
    # The predictor's held-out error per continuous control (C,), from its manifest (None
    # where unknown): where it is blind, the controls reader's reading is taken alone.
    predictor_errors: torch.Tensor | None = None
    # The held-out error (C,) of the reading each continuous control starts from in `full`:
    # a close reader's where one decides it, else the controls reader's (None: unknown).
    start_errors: torch.Tensor | None = None


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


class Fitter:
    """Photos in, game-face parameters out; networks frozen, loaded once."""

    def __init__(self, models: FitModels, config: FitConfig, device: torch.device) -> None:
        from facefit.rig.reference import REFERENCE_SIZE
        from facefit.rig.render import Renderer
        from facefit.rig.spec import load_spec

        self.models = models
        self.config = config
        self.device = device
        self.spec = load_spec()
        self.layout = ParamLayout.from_spec(self.spec)
        self.labels = list(self.spec.labels)
        self.aligned_size = REFERENCE_SIZE
        self._renderer = Renderer(size=REFERENCE_SIZE)
        # outlines are compared at the extractor's resolution: drawing them there is cheaper
        self._probe_renderer = Renderer(size=models.extractor_size)
        # The search's anchor renders at twice the imitator's side and shrinks by area, as
        # the imitator's training renders were made (`facefit rig sample --size 256`, 128 px).
        self._anchor_renderer = Renderer(size=2 * models.imitator.cfg.size)
        self._check_config(config)

    def _check_config(self, cfg: FitConfig) -> FitConfig:
        """`cfg` if it fits this rig: the groups, classes, regions and controls it names."""
        for field_name, kind, unknown in _unknown_names(cfg, self.spec):
            raise SpecError(f"{field_name} names no {_NAME_KINDS[kind]} of this rig: {unknown}")
        return cfg

    def _config(self, overrides: dict[str, Any]) -> FitConfig:
        """The loaded config with a call's overrides, checked like the loaded one.

        Every override is taken as is, None included (it switches off a step whose field
        allows it); callers holding optional values pass them through `config.given`.
        """
        return self._check_config(replace(self.config, **overrides))

    def fit_photo(
        self, photo: bytes | np.ndarray, on_step: OnStep | None = None, **overrides: Any
    ) -> FitResult:
        """Fit one photo; `overrides` replace `FitConfig` fields (mode, threshold, max_iters)."""
        result = self.fit_photos([photo], on_step=on_step, **overrides)[0]
        if isinstance(result, FacefitError):
            raise result
        return result

    def fit_photos(
        self,
        photos: list[bytes | np.ndarray],
        on_step: OnStep | None = None,
        **overrides: Any,
    ) -> list[FitResult | FacefitError]:
        """Fit a batch in one optimisation; a photo that fails intake yields its error."""
        from facefit.align import align_photo, load_photo

        cfg = self._config(overrides)
        t0 = time.perf_counter()
        aligned: list[Any] = []
        for photo in photos:
            try:
                pixels = load_photo(bytes(photo)) if isinstance(photo, bytes | bytearray) else photo
                aligned.append((pixels, align_photo(pixels)))
            except FacefitError as exc:
                aligned.append(exc)
        ok = [a for a in aligned if not isinstance(a, FacefitError)]
        t_align = (time.perf_counter() - t0) / max(len(photos), 1)
        if not ok:
            return aligned
        t1 = time.perf_counter()
        fitted = self._search_aligned(ok, cfg, on_step)
        t_fit = (time.perf_counter() - t1) / len(ok)
        results: list[FitResult | FacefitError] = []
        it = iter(fitted)
        for a in aligned:
            if isinstance(a, FacefitError):
                results.append(a)
                continue
            res = next(it)
            seconds = {
                "align": round(t_align, 4),
                "fit": round(t_fit, 4),
                "total": round(t_align + t_fit, 4),
            }
            results.append(replace(res, fit={**res.fit, "seconds": seconds}))
        return results

    def fit_aligned(
        self,
        photos_faces: list[tuple[np.ndarray, Any]],
        on_step: OnStep | None = None,
        **overrides: Any,
    ) -> list[FitResult]:
        """Fit faces that are already aligned, as (photo pixels, AlignedFace) pairs."""
        cfg = self._config(overrides)
        t0 = time.perf_counter()
        results = self._search_aligned(photos_faces, cfg, on_step)
        seconds = {"fit": round((time.perf_counter() - t0) / max(len(results), 1), 4)}
        return [replace(r, fit={**r.fit, "seconds": seconds}) for r in results]

    def _search_aligned(
        self, photos_faces: list[tuple[np.ndarray, Any]], cfg: FitConfig, on_step: OnStep | None
    ) -> list[FitResult]:
        m = self.models
        faces = [face for _, face in photos_faces]
        images, targets = self.targets_of(faces)
        init = self._initial_vectors(targets, images, cfg)
        read = self._read_groups(cfg)
        # Only `full` anchors its search to the real rig; `fast` does not search at all.
        search_cfg = cfg if cfg.mode == "full" else replace(cfg, anchor_every=0)
        if cfg.mode == "fast":
            search_cfg = replace(search_cfg, max_iters=0)
        found = search(
            m.imitator,
            m.extractor,
            targets,
            init,
            self.layout,
            self.labels,
            search_cfg,
            m.extractor_size,
            on_step=on_step,
            fixed_groups=read,
            anchor=self.rig_anchor,
            step_scale=self._step_scale(cfg),
        )
        vectors = found.vectors.detach().clone()  # the real-rig check may change options
        if cfg.mode == "full" and cfg.silhouette_groups:
            # after the search, so that the shape it fitted is the same whichever outline
            # wins (chosen before it, the shape followed the hair and identity dropped)
            vectors = self._silhouette_choice(vectors, targets, cfg)
            read += tuple(group for group, _ in cfg.silhouette_groups)
        beard_chins = self._beard_chins(faces, cfg)
        bearded = [chin is not None for chin in beard_chins]
        vectors, renders, real_loss = self._check_with_real_rig(
            vectors, found, targets, cfg, skip=read, bearded=bearded
        )
        if cfg.mode == "full":
            # last, on the final options: a beard or a bald head changes what the chin, the
            # skin and the hair regions show (matched before the check, the check then kept
            # fewer of the rig renders' beards)
            matched = self._match_beard_density(vectors, beard_chins, cfg)
            if cfg.color_matches:
                matched = self._color_match(matched, targets, cfg)
            if not torch.equal(matched, vectors):
                # the check's renders stand where nothing moved (the renderer is deterministic)
                renders = [
                    r if torch.equal(m, v) else self._renderer.render(m.cpu().numpy())
                    for r, m, v in zip(renders, matched, vectors, strict=True)
                ]
                vectors = matched
                real_loss = self._real_loss(vectors, renders, targets, cfg)
        if found.images is not None and torch.equal(vectors, found.vectors):
            imitated = found.images  # fast: the imitator already drew exactly these
        else:
            with torch.no_grad():
                imitated, _ = m.imitator(vectors)
        results = []
        for i, face in enumerate(faces):
            decoded = self.spec.decode(vectors[i].cpu().numpy())
            results.append(
                FitResult(
                    rig=self.spec.rig_id,
                    params=decoded,
                    fit={
                        "mode": cfg.mode,
                        "iterations": found.iterations[i],
                        "stopped_early": found.stopped_early[i],
                        "loss": round(found.losses[i], 6),
                        "similarity": round(found.similarities[i], 6),
                        "real_render_loss": round(real_loss[i], 6),
                        "real_render_similarity": round(
                            similarity_from_loss(real_loss[i], cfg.loss_scale), 6
                        ),
                        "threshold": cfg.threshold,
                        "max_iters": cfg.max_iters,
                        "anchor_every": search_cfg.anchor_every,
                        "beard_from_chin": bearded[i],
                        "terms": {k: round(v, 6) for k, v in found.terms[i].items()},
                    },
                    models=dict(m.models),
                    photo=photos_faces[i][0],
                    aligned=face.image,
                    imitator_image=tensor_to_image(imitated[i]),
                    real_render=renders[i].image,
                    real_landmarks68=renders[i].landmarks68,
                    real_labels=renders[i].labels,
                    photo_landmarks68=face.photo_landmarks68,
                    transform=face.transform,
                    loss_curve=found.history[i],
                )
            )
        return results

    def _read_groups(self, cfg: FitConfig) -> tuple[str, ...]:
        """The discrete groups the detail readers decide (none from the patent's start)."""
        return () if cfg.mode == "patent" else tuple(r.cfg.group for r in self.models.readers)

    def _initial_vectors(
        self, targets: PhotoTargets, images: torch.Tensor, cfg: FitConfig
    ) -> torch.Tensor:
        """Patent init (mean face), the predictor's guess (fast) or full's start, (B, D).

        The predictor reads the photo features the loss targets were made from: the
        extractor runs once per photo. In `full`, the controls reader reads the aligned
        photos' pixels, and its continuous controls are blended in by `cfg.controls_weight`
        (more where the predictor reads a control worse, `cfg.blend_by_error`);
        then each close reader sets the controls it decides. The detail readers of discrete
        groups read the aligned photos and replace the predictor's choice in their groups.
        """
        batch = images.shape[0]
        mean = torch.as_tensor(self.spec.mean_vector(), device=self.device).expand(batch, -1)
        if cfg.mode == "patent":
            return mean.clone()
        if self.models.predictor is None:
            if cfg.mode == "fast":
                raise ModelError("mode 'fast' needs the predictor network; none is installed")
            guess = mean.clone()  # said once, when the networks were loaded
        else:
            with torch.no_grad():
                colors = color_vector(targets.colors)
                guess = self.models.predictor(targets.features, targets.probs, colors)
        c = self.layout.continuous_size
        if cfg.mode == "full" and self.models.controls is not None and cfg.controls_weight > 0:
            # The predictor reads a parse, blind to colour and shading; the controls reader
            # reads the pixels but learned photos only from jittered renders. `fast` keeps
            # the predictor's answer: without the search, the blend's landmarks land farther
            # from the photo's (docs/benchmarks.md).
            w = torch.full((c,), cfg.controls_weight, device=self.device)
            theirs, mine = self.models.predictor_errors, self.models.start_errors
            if cfg.blend_by_error and theirs is not None and mine is not None:
                # A fixed share keeps the predictor's noise where it reads far worse than the
                # reader without being blind (cheekbone height: 0.19 against 0.04).
                k = cfg.blend_by_error
                w = torch.maximum(w, theirs**k / (theirs**k + mine**k))
            if theirs is not None:
                # Where the predictor reads no better than `predictor_blind_error`, its share
                # would only pull the reader's answer toward the predictor's noise.
                blind = theirs >= cfg.predictor_blind_error
                w = torch.where(blind, torch.ones_like(w), w)
            with torch.no_grad():
                guess[:, :c] = (1 - w) * guess[:, :c] + w * self.models.controls(images)
                for close in self.models.close:
                    read = close.reader.read_controls(images)
                    guess[:, close.columns] = read[:, close.outputs]
        if self.models.predictor is not None:
            if cfg.mode == "full":
                # The search starts from the predictor's discrete choices and from its
                # continuous guess pulled toward the average face by
                # `predictor_continuous_weight`.
                w = cfg.predictor_continuous_weight
                guess[:, :c] = mean[:, :c] + w * (guess[:, :c] - mean[:, :c])
            if cfg.mode == "fast":
                guess = self._default_unless_confident(guess, cfg)
        # A reader's choice is final (the search keeps it), so the search fits the other
        # controls to that option drawn alone, not to a blend of options.
        for reader in self.models.readers:
            block = self.spec.discrete_slices[reader.cfg.group]
            start, stop = block.start, block.stop
            with torch.no_grad():
                choice = reader(images).argmax(dim=1)
            guess[:, start:stop] = F.one_hot(choice, stop - start).to(guess.dtype)
        return guess

    def _step_scale(self, cfg: FitConfig) -> torch.Tensor | None:
        """(C,) how far the search may move each continuous control per update, relative to
        the others: `(e / 0.25) ** cfg.step_by_error`, with e the held-out error of the
        reading that started it (0.25: chance). None: all alike."""
        errors = self.models.start_errors
        if cfg.mode != "full" or cfg.step_by_error == 0 or errors is None:
            return None
        return (errors / 0.25).clamp(max=1.0) ** cfg.step_by_error

    def _default_unless_confident(self, guess: torch.Tensor, cfg: FitConfig) -> torch.Tensor:
        """The predictor's guess with option 0 wherever its choice is less sure than
        `cfg.fast_min_confidence`, in the groups of `default_margin_groups` (`fast`'s
        counterpart of full's `default_margin`: no render says more than the predictor)."""
        guess = guess.clone()
        for group, start, stop in self.layout.discrete_slices:
            if not cfg.holds_default(group):
                continue
            unsure = guess[:, start:stop].max(dim=1).values < cfg.fast_min_confidence
            guess[unsure, start:stop] = 0.0
            guess[unsure, start] = 1.0
        return guess

    def _silhouette_choice(
        self, vectors: torch.Tensor, targets: PhotoTargets, cfg: FitConfig
    ) -> torch.Tensor:
        """`vectors` with each of `cfg.silhouette_groups` set to its best-outlined option.

        Every option is drawn by the real rig, at the extractor's resolution, with the rest of
        the face as searched, and its class mask compared with the photo's class probability
        by `outline_disagreement`. The searched option stays unless another one disagrees
        less by `cfg.silhouette_margin` (a fraction): where the outlines are about equal
        (the short cuts, as a photo's parse draws them) the search saw more than the outline.
        """
        vectors = vectors.clone()
        for group, label in cfg.silhouette_groups:
            block = self.spec.discrete_slices[group]
            start, stop = block.start, block.stop
            k = self.labels.index(label)
            for i in range(vectors.shape[0]):
                photo = targets.probs[i, k]  # (s, s)
                scores = []
                for option in range(stop - start):
                    candidate = with_option(vectors[i], start, stop, option)
                    drawn = self._probe_renderer.render(candidate.cpu().numpy()).labels == k
                    mask = torch.as_tensor(drawn, dtype=photo.dtype, device=photo.device)
                    if mask.shape != photo.shape:  # an extractor whose output is smaller
                        mask = F.interpolate(mask[None, None], size=photo.shape, mode="area")[0, 0]
                    scores.append(outline_disagreement(mask, photo))
                searched, best = int(vectors[i, start:stop].argmax()), int(np.argmin(scores))
                if scores[best] < (1.0 - cfg.silhouette_margin) * scores[searched]:
                    vectors[i] = with_option(vectors[i], start, stop, best)
        return vectors

    def _color_match(
        self, vectors: torch.Tensor, targets: PhotoTargets, cfg: FitConfig
    ) -> torch.Tensor:
        """`vectors` with the controls of `cfg.color_matches` set to match the photo's colour.

        Per region, each control in turn is tried at `cfg.color_steps` evenly spaced values,
        the others as they are, on the real rig at the extractor's resolution; the value whose
        region (the render's own labels) has the mean colour closest to the photo's (the
        extractor's class probabilities, as in the loss) in CIE Lab is kept. A region the
        render does not show (hair on a bald head), or the photo shows on less than
        `MIN_REGION_SHARE` of the frame (its mean colour is then mostly the parse's noise),
        leaves its controls alone.
        """
        vectors = vectors.clone()
        names = [c.name for c in self.spec.continuous]
        values = np.linspace(0.0, 1.0, cfg.color_steps)
        for region, controls in cfg.color_matches:
            classes = [self.labels.index(n) for n in COLOR_REGIONS[region]]
            photo = _lab(targets.colors[region].cpu().numpy())  # (B, 3)
            share = targets.probs[:, classes].sum(1).flatten(1).mean(1)  # (B,)
            for i in range(vectors.shape[0]):
                if float(share[i]) < MIN_REGION_SHARE:
                    continue
                for control in controls:
                    k = names.index(control)
                    distances = []
                    for value in values:
                        candidate = vectors[i].clone()
                        candidate[k] = float(value)
                        drawn = self._probe_renderer.render(candidate.cpu().numpy())
                        shown = np.isin(drawn.labels, classes)
                        if not shown.any():
                            break
                        mean = drawn.image[shown].mean(axis=0) / 255.0
                        distances.append(float(np.linalg.norm(_lab(mean[None])[0] - photo[i])))
                    if len(distances) == len(values):
                        vectors[i, k] = float(values[int(np.argmin(distances))])
        return vectors

    def _beard_chins(self, faces: list[Any], cfg: FitConfig) -> list[float | None]:
        """Per aligned face, its chin's lightness against the cheeks where the chin is dark
        or textured enough to be a beard (`full` only), else None."""
        if cfg.mode != "full" or cfg.beard_group is None:
            return [None] * len(faces)
        out: list[float | None] = []
        for face in faces:
            image, points = face.image, face.aligned_landmarks68
            chin = chin_minus_cheek_lightness(image, points)
            beard = chin < cfg.beard_chin_lightness or (
                chin_minus_cheek_texture(image, points) > cfg.beard_chin_texture
            )
            out.append(chin if beard else None)
        return out

    def _match_beard_density(
        self, vectors: torch.Tensor, beard_chins: list[float | None], cfg: FitConfig
    ) -> torch.Tensor:
        """`vectors` with `cfg.beard_density` set where the chin's evidence gave a beard
        (`beard_chins`: the photo's chin lightness there, as `_beard_chins` gives it).

        The search sets how dense a beard is drawn from a loss that cannot see it (the
        evidence's stubble came out faint), so the control is tried on the real rig at the
        photo's resolution, at `cfg.color_steps` values from the densest down, and the value
        whose chin is as much darker than its cheeks as the photo's is kept
        (`chin_minus_cheek_lightness`). A chin darkens steadily with density, so the
        distance falls to its least and then rises: the walk stops at the first rise (a
        photo's dark chin usually matches the densest beard, in two renders, not nine).
        """
        if cfg.beard_density is None or cfg.beard_group is None:
            return vectors
        vectors = vectors.clone()
        k = [c.name for c in self.spec.continuous].index(cfg.beard_density)
        block = self.spec.discrete_slices[cfg.beard_group]
        for i, photo in enumerate(beard_chins):
            if photo is None or int(vectors[i, block].argmax()) == 0:
                continue
            best, least = 1.0, math.inf
            for value in np.linspace(1.0, 0.0, cfg.color_steps):
                candidate = vectors[i].clone()
                candidate[k] = float(value)
                drawn = self._renderer.render(candidate.cpu().numpy())
                distance = abs(chin_minus_cheek_lightness(drawn.image, drawn.landmarks68) - photo)
                if distance >= least:
                    break
                best, least = float(value), distance
            vectors[i, k] = best
        return vectors

    def _check_with_real_rig(self, vectors, found, targets, cfg, skip=(), bearded=None):
        """Score the final parameters with the real rig; try close runner-ups and the default.

        The imitator can be fooled (a vector it renders well but the game does not), so the
        answer is judged by the game's own render through the same loss. Per discrete group
        the runner-up is tried where the soft choice was close, and, in the groups of
        `default_margin_groups` (all by default), option 0 (no beard, the default hairstyle)
        wherever something else was chosen: an option the game's render does not support
        over the default by `default_margin` is not kept. The groups in `skip` (a detail
        reader's or a silhouette's) are kept as chosen. Where `bearded` says a face's chin
        shows a beard, option 0 of `cfg.beard_group` is ruled out: where it was chosen,
        every other option is drawn and the best of them kept, even if option 0 scored better.
        """
        renders = [self._renderer.render(v.cpu().numpy()) for v in vectors]
        real_loss = self._real_loss(vectors, renders, targets, cfg)
        if cfg.mode == "fast":  # the predictor's answer as is: one render, to score and show it
            return vectors, renders, real_loss
        for g, (group, start, stop) in enumerate(self.layout.discrete_slices):
            if group in skip:
                continue
            margin_group = cfg.holds_default(group)
            probs = found.discrete_probabilities[g]
            top2 = probs.topk(min(2, probs.shape[1]), dim=1)
            for i in range(vectors.shape[0]):
                current = int(vectors[i, start:stop].argmax())
                options = []
                values = top2.values[i]
                if len(values) == 2 and float(values[0] - values[1]) < cfg.runner_up_margin:
                    options.append(int(top2.indices[i, 1]))
                if margin_group and current != 0 and 0 not in options:
                    options.append(0)
                to_beat = real_loss[i]
                if bearded is not None and bearded[i] and group == cfg.beard_group:
                    # the chin rules out "none": a beard the search chose stands as checked
                    # above, none chosen gives way to the best of the others
                    options = [o for o in options if o != 0]
                    if current == 0:
                        options, to_beat = list(range(1, stop - start)), math.inf
                for option in options:
                    candidate = with_option(vectors[i], start, stop, option)
                    render = self._renderer.render(candidate.cpu().numpy())
                    loss = self._real_loss(candidate[None], [render], _take(targets, i), cfg)[0]
                    bonus = 1.0 - cfg.default_margin if option == 0 and margin_group else 1.0
                    if loss * bonus < to_beat:
                        vectors[i], renders[i], real_loss[i] = candidate, render, loss
                        to_beat = loss
        return vectors, renders, real_loss

    def targets_of(self, faces: list[Any]) -> tuple[torch.Tensor, PhotoTargets]:
        """Aligned faces -> their images (B, 3, S, S) and what the loss compares renders to."""
        images, landmarks = frame_tensors(
            [f.image for f in faces],
            [f.aligned_landmarks68 for f in faces],
            self.aligned_size,
            self.device,
        )
        m = self.models
        return images, photo_targets(m.extractor, images, landmarks, self.labels, m.extractor_size)

    def rig_anchor(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The real rig's render of `vectors` (B, D) as the imitator draws: images, landmarks."""
        renderer = self._anchor_renderer
        renders = [renderer.render(v) for v in vectors.cpu().numpy()]
        images, points = frame_tensors(
            [r.image for r in renders], [r.landmarks68 for r in renders], renderer.size, self.device
        )
        return to_extractor_size(images, self.models.imitator.cfg.size), points

    def _real_loss(self, vectors, renders, targets, cfg) -> list[float]:
        images, landmarks = frame_tensors(
            [r.image for r in renders],
            [r.landmarks68 for r in renders],
            self.aligned_size,
            self.device,
        )
        with torch.no_grad():
            terms = loss_terms(
                self.models.extractor,
                images,
                landmarks,
                vectors,
                targets,
                self.labels,
                self.models.extractor_size,
                self.layout.continuous_size,
            )
            return [float(v) for v in total_loss(terms, cfg)]


# What each kind of name a `FitConfig` uses must be in the rig.
_NAME_KINDS = {
    "group": "discrete group",
    "class": "label class",
    "region": f"colour region {tuple(COLOR_REGIONS)}",
    "control": "continuous control",
}


def _rig_names(spec) -> dict[str, set[str]]:
    """Kind (a key of `_NAME_KINDS`) -> the names of that kind `spec`'s rig has."""
    return {
        "group": {g.name for g in spec.discrete},
        "class": set(spec.labels),
        "region": set(COLOR_REGIONS),
        "control": {c.name for c in spec.continuous},
    }


def _unknown_names(cfg: FitConfig, spec) -> list[tuple[str, str, set[str]]]:
    """(field, kind, names the rig lacks) for every field of `cfg` that names rig parts."""
    known = _rig_names(spec)
    named = (
        ("default_margin_groups", "group", set(cfg.default_margin_groups or ())),
        ("silhouette_groups", "group", {g for g, _ in cfg.silhouette_groups}),
        ("silhouette_groups", "class", {label for _, label in cfg.silhouette_groups}),
        ("color_matches", "region", {region for region, _ in cfg.color_matches}),
        ("color_matches", "control", {c for _, cs in cfg.color_matches for c in cs}),
        ("beard_group", "group", {cfg.beard_group} - {None}),
        ("beard_density", "control", {cfg.beard_density} - {None}),
    )
    return [(f, kind, names - known[kind]) for f, kind, names in named if names - known[kind]]


def defaults_for_rig(cfg: FitConfig, spec) -> FitConfig:
    """`cfg` without the rig-specific steps whose groups, classes or controls `spec` lacks.

    The defaults name the reference rig's parts (its hairstyle, hair colour and beard); a
    studio's own client may have none of them, and its fits should then go without those
    steps rather than refuse to start. Each step dropped is logged. A config given
    explicitly is checked as it is instead (`Fitter._check_config`): a misspelt name fails.
    """
    known = _rig_names(spec)
    groups, classes, controls = known["group"], known["class"], known["control"]
    adapted = replace(
        cfg,
        default_margin_groups=None
        if cfg.default_margin_groups is None
        else tuple(g for g in cfg.default_margin_groups if g in groups),
        silhouette_groups=tuple(
            (g, label) for g, label in cfg.silhouette_groups if g in groups and label in classes
        ),
        color_matches=tuple(
            (region, kept)
            for region, cs in cfg.color_matches
            if region in known["region"] and (kept := tuple(c for c in cs if c in controls))
        ),
        beard_group=cfg.beard_group if cfg.beard_group in groups else None,
        beard_density=cfg.beard_density if cfg.beard_density in controls else None,
    )
    for field in ("default_margin_groups", "silhouette_groups", "color_matches"):
        if getattr(adapted, field) != getattr(cfg, field):
            logger.warning(
                "this rig lacks parts %s names: using %r", field, getattr(adapted, field)
            )
    for field in ("beard_group", "beard_density"):
        if getattr(adapted, field) != getattr(cfg, field):
            logger.warning("this rig has no %r: the %s step is off", getattr(cfg, field), field)
    return adapted


def with_option(vector: torch.Tensor, start: int, stop: int, option: int) -> torch.Tensor:
    """A copy of a (D,) parameter vector with the group at [start, stop) set to `option`."""
    out = vector.clone()
    out[start:stop] = 0.0
    out[start + option] = 1.0
    return out


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) sRGB in [0, 1] -> (N, 3) CIE Lab (L in 0-100)."""
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32)[None], cv2.COLOR_RGB2LAB)[0]


def outline_disagreement(mask: torch.Tensor, probability: torch.Tensor) -> float:
    """1 - the mean soft intersection over union of a class and of its complement.

    `mask` and `probability` (s, s) in [0, 1]. Scoring the complement as well lets an empty
    mask (a bald head) be compared with small ones: the class's own overlap alone is 0 for
    it whatever the photo shows.
    """

    def iou(a: torch.Tensor, b: torch.Tensor) -> float:
        union = float(torch.maximum(a, b).sum())
        return float(torch.minimum(a, b).sum()) / union if union > 0 else 1.0

    return 1.0 - 0.5 * (iou(mask, probability) + iou(1.0 - mask, 1.0 - probability))


def _take(targets, i: int):
    """The targets of face `i` alone, as a batch of one."""
    return type(targets)(
        features=[f[i : i + 1] for f in targets.features],
        probs=targets.probs[i : i + 1],
        weight_map=targets.weight_map[i : i + 1],
        colors={k: v[i : i + 1] for k, v in targets.colors.items()},
        landmarks=targets.landmarks[i : i + 1],
    )


def load_fitter(settings: CoreSettings | None = None, config: FitConfig | None = None) -> Fitter:
    """The shipped networks from the weights folder, checked against the manifest and rig.

    Without an explicit `config`, `FitConfig`'s defaults with the folder's calibration
    (`facefit.fit.calibration`) applied.

    Raises `ModelError` (code MODEL_MISSING) when a required network is not installed, so a
    worker can fail a job with a clear code instead of producing parameters it cannot judge.
    """
    from facefit.device import resolve_device
    from facefit.nets.controls import DEFAULT_CONFIG as CONTROLS_CONFIG
    from facefit.nets.controls import load_controls_reader
    from facefit.nets.detail import READERS, load_reader
    from facefit.nets.extractor import DEFAULT_CONFIG as EXTRACTOR_CONFIG
    from facefit.nets.extractor import load_extractor
    from facefit.nets.imitator import DEFAULT_CONFIG as IMITATOR_CONFIG
    from facefit.nets.imitator import load_imitator
    from facefit.nets.weights import sha256_of, weights_name

    settings = settings or CoreSettings.from_env()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    device = resolve_device(settings.device)
    paths = {
        "imitator": settings.weights_dir / weights_name("imitator", IMITATOR_CONFIG),
        "extractor": settings.weights_dir / weights_name("extractor", EXTRACTOR_CONFIG),
    }
    for network, path in paths.items():
        if not path.exists():
            raise ModelError(
                f"the {network} is not installed ({path} is missing)", code="MODEL_MISSING"
            )
    imitator = load_imitator(paths["imitator"], device)
    extractor = load_extractor(paths["extractor"], device)
    predictor, predictor_errors = None, None
    predictor_path = settings.weights_dir / weights_name("predictor", PREDICTOR_CONFIG)
    if predictor_path.exists():
        from facefit.nets.predictor import load_predictor

        predictor = load_predictor(predictor_path, extractor, device, paths["extractor"])
        paths["predictor"] = predictor_path
        predictor_errors = held_out_errors(predictor_path, "continuous_mae_per_control", device)
    else:
        logger.warning("no predictor installed: mode full starts from the average face")
    controls, controls_errors = None, None
    controls_path = settings.weights_dir / weights_name("controls", CONTROLS_CONFIG)
    if controls_path.exists():  # optional: without it the predictor reads the controls alone
        controls = load_controls_reader(controls_path, device)
        paths["controls"] = controls_path
        controls_errors = held_out_errors(controls_path, "per_control", device)
    readers, close = [], []
    # The held-out error of the reading each continuous control starts from: the controls
    # reader's, then each close reader's where it reads closer than the readings before it
    # (a later reader takes a control over, in the start too).
    start_errors = None if controls_errors is None else controls_errors.clone()
    for name in READERS:
        path = settings.weights_dir / weights_name("detail", name)
        if not path.exists():  # optional: without one the predictor and the search decide
            continue
        reader = load_reader(path, device)
        if not reader.cfg.controls:
            readers.append(reader)
        elif controls_errors is None:  # it is weighed against the controls reader's errors
            logger.warning(
                "%s is installed without the controls reader (or its held-out errors): not used",
                path.name,
            )
            continue
        else:
            close.append(close_reading(reader, path, start_errors, device))
            start_errors[close[-1].columns] = close[-1].errors
        paths[f"detail-{name}"] = path
    models = FitModels(
        imitator=imitator,
        extractor=extractor,
        predictor=predictor,
        extractor_size=extractor.cfg.size,
        models={p.name: sha256_of(p) for p in paths.values()},
        readers=tuple(readers),
        controls=controls,
        close=tuple(close),
        predictor_errors=predictor_errors,
        start_errors=start_errors,
    )
    if config is None:  # the defaults, as calibrated for these networks when they were
        # ... and without the steps that name what another game's rig lacks
        from facefit.rig.spec import load_spec

        config = defaults_for_rig(FitConfig(), load_spec())
        config = calibrated_config(settings.weights_dir, models.models, config)
    return Fitter(models, config, device)


def validation_of(path: Path) -> dict[str, Any]:
    """The held-out measures a weights file's manifest entry records."""
    from facefit.nets.weights import read_manifest

    return read_manifest(path.parent)["weights"][path.name].get("validation", {})


def held_out_errors(path: Path, key: str, device) -> torch.Tensor | None:
    """(C,) a network's held-out error per continuous control of the rig, from its manifest
    entry's `validation[key]`; None where the entry lacks one of them."""
    from facefit.rig.spec import load_spec

    errors = validation_of(path).get(key, {})
    names = [control.name for control in load_spec().continuous]
    if not all(name in errors for name in names):
        return None
    return torch.tensor([errors[name] for name in names], dtype=torch.float32, device=device)


def close_reading(
    reader: torch.nn.Module, path: Path, errors_before: torch.Tensor, device
) -> CloseReading:
    """A close reader and the controls it reads with a smaller held-out error than the
    readings before it (`errors_before`: the controls reader's, as `held_out_errors` reads
    them, with earlier close readers' where they decide)."""
    from facefit.rig.spec import load_spec

    names = [control.name for control in load_spec().continuous]
    mine = validation_of(path)["per_control"]
    # compared at the tensor's precision, so that equal errors stay equal (no decision)
    theirs = errors_before.cpu()
    decided = [
        k
        for k, n in enumerate(reader.cfg.controls)
        if bool(torch.tensor(mine[n], dtype=theirs.dtype) < theirs[names.index(n)])
    ]
    return CloseReading(
        reader=reader,
        errors=torch.tensor(
            [mine[reader.cfg.controls[k]] for k in decided], dtype=torch.float32, device=device
        ),
        outputs=torch.tensor(decided, dtype=torch.long, device=device),
        columns=torch.tensor(
            [names.index(reader.cfg.controls[k]) for k in decided], dtype=torch.long, device=device
        ),
    )
