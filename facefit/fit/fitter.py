"""The fit (patent Fig. 4): aligned photos in, game-face parameters out, in five stages.

    load      networks and calibration, once per process     facefit.fit.networks, calibration
    start     each control from the network that owns it      facefit.fit.start
              (a rig's sex/age/ethnic form from the photo's     facefit.fit.attributes
              attributes, its face shape from the landmarks,    facefit.fit.shape
              both kept by the search)
    search    gradient steps until the threshold or budget    facefit.fit.search
    steps     post-search steps on real renders, each a       facefit.fit.outline, options,
              function from vectors to vectors; on rig 3        beard, colors, recognition
              the last solves the shape again with what
              a face recogniser reads of the character
              (predicted: facefit.nets.descriptor)
    result    real render and its loss per photo (`fast`:     facefit.fit.result
              none; pictures are drawn when asked for)

`fast` stops after the start (no search; its beard is the chin's, and on rig 3
its hairstyle the outline's on the average face, its skin and hair colours read off tables
of the average face, `color_tables`, its beard at the chin's density as in `full`,
its eyes' colour from the iris as in `full`, `iris`, then the recogniser's shape step as in
`full`; it neither searches nor judges its answer, and draws no 512 px render);
`patent`, the baseline of `facefit eval`, starts from the average face and checks the options
only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch

from facefit.errors import FacefitError
from facefit.fit.attributes import photo_descriptors, read_photos, reads_macros, with_macros
from facefit.fit.beard import (
    at_chin_density,
    beard_chins,
    chin_beard_options,
    match_beard_density,
    shave_clean_chins,
)
from facefit.fit.calibration import Calibration, calibration_for, summary
from facefit.fit.color_tables import match_colors_from_tables
from facefit.fit.colors import match_colors, photo_cheeks, within_bounds
from facefit.fit.config import SERVICE_MODES, FitConfig, check_names, for_rig
from facefit.fit.hair_texture import curled_photos
from facefit.fit.intake import align_photos, aligned_targets
from facefit.fit.iris import match_irises, photo_irises
from facefit.fit.networks import FitNetworks, load_networks
from facefit.fit.options import check_options
from facefit.fit.outline import choose_outlines, unworn_options
from facefit.fit.params import ParamLayout
from facefit.fit.real_rig import RealRig, tensor_to_image
from facefit.fit.recognition import recognised_shapes, rendered_descriptors
from facefit.fit.result import FitResult, fit_block, fit_result
from facefit.fit.runner_ups import OptionEvidence, runner_ups
from facefit.fit.search import OnStep, PhotoTargets, SearchResult, search, unjudged
from facefit.fit.shape import shape_controls, shape_from_landmarks
from facefit.fit.start import start_vectors
from facefit.settings import CoreSettings

logger = logging.getLogger(__name__)


class Fitter:
    """Photos in, game-face parameters out; networks frozen, loaded once."""

    def __init__(
        self, networks: FitNetworks, calibration: Calibration, config: FitConfig, device
    ) -> None:
        from facefit.rig.spec import load_spec

        self.networks, self.calibration, self.device = networks, calibration, device
        self.spec = load_spec()
        self.layout = ParamLayout.from_spec(self.spec)
        self.labels = list(self.spec.labels)
        self.rig = RealRig(networks.extractor, self.spec, device)
        self.aligned_size = self.rig.size
        self.config = check_names(config, self.spec)

    def fit_photo(
        self, photo: bytes | np.ndarray, on_step: OnStep | None = None, **overrides: Any
    ) -> FitResult:
        """Fit one photo; `overrides` replace `FitConfig` fields (mode, threshold, max_iters)."""
        result = self.fit_photos([photo], on_step=on_step, **overrides)[0]
        if isinstance(result, FacefitError):
            raise result
        return result

    def fit_photos(
        self, photos: list[bytes | np.ndarray], on_step: OnStep | None = None, **overrides: Any
    ) -> list[FitResult | FacefitError]:
        """Fit a batch in one search; a photo that fails intake yields its error in place."""
        aligned, t_align = align_photos(photos)
        ok = [a for a in aligned if not isinstance(a, FacefitError)]
        fitted = iter(self.fit_aligned(ok, on_step, **overrides) if ok else [])
        results: list[FitResult | FacefitError] = []
        for a in aligned:
            res = a if isinstance(a, FacefitError) else next(fitted)
            if isinstance(res, FitResult):
                seconds = {"align": round(t_align, 4), **res.fit["seconds"]}
                seconds["total"] = round(t_align + seconds["fit"], 4)
                res = replace(res, fit={**res.fit, "seconds": seconds})
            results.append(res)
        return results

    def fit_aligned(
        self,
        photos_faces: list[tuple[np.ndarray, Any]],
        on_step: OnStep | None = None,
        **overrides: Any,
    ) -> list[FitResult]:
        """Fit faces that are already aligned, as (photo pixels, AlignedFace) pairs."""
        cfg = self.config_for(**overrides)
        t0 = time.perf_counter()
        results = self._fit(photos_faces, cfg, on_step)
        seconds = {"fit": round((time.perf_counter() - t0) / max(len(results), 1), 4)}
        return [replace(r, fit={**r.fit, "seconds": seconds}) for r in results]

    def config_for(self, **overrides: Any) -> FitConfig:
        """The loaded config with a call's overrides (None too: it switches a step off; callers
        holding optional values pass them through `config.given`), checked against the rig."""
        return check_names(replace(self.config, **overrides), self.spec)

    def _fit(
        self, photos_faces: list[tuple[np.ndarray, Any]], cfg: FitConfig, on_step: OnStep | None
    ) -> list[FitResult]:
        """The stages in order: start, search, post-search steps, result."""
        faces = [face for _, face in photos_faces]
        images, targets = self.targets_of(faces)
        plan = self.calibration.start
        evidence = OptionEvidence(len(faces))  # what each stage learns of the options
        # the patent's baseline goes without the chin
        chins = beard_chins(faces, cfg) if cfg.mode != "patent" else [None] * len(faces)
        bearded = [chin is not None for chin in chins]
        # the patent's baseline draws no outlines, so it needs no reading of the hair
        reads_curls = cfg.curled_options and cfg.mode != "patent"
        curled = curled_photos(faces, targets.probs, self.labels) if reads_curls else None
        start = start_vectors(
            self.networks, plan, self.spec, images, targets, cfg, evidence, bearded
        )
        decided = () if cfg.mode == "patent" else tuple(plan.group_owners)
        budget = 0 if cfg.mode == "fast" else cfg.max_iters
        step_scale = plan.step_tensor(self.device) if cfg.mode == "full" else None
        described = reads_macros(cfg, self.networks, self.spec) or self._recognises(cfg)
        descriptors = photo_descriptors(photos_faces) if described else None
        start, kept = self._read_from_photo(start, descriptors, targets, cfg)
        if kept and cfg.mode == "full":  # read from the photo itself: the search leaves them
            if step_scale is None:
                step_scale = torch.ones(self.spec.continuous_size, device=self.device)
            step_scale = step_scale.clone()
            step_scale[kept] = 0.0
        if cfg.mode == "fast":  # one pass: no search and no judge
            found = unjudged(start, self.layout)
        else:
            found = search(
                self.networks.imitator, self.networks.extractor, targets, start, self.layout,
                self.labels, replace(cfg, max_iters=budget), self.networks.extractor_size,
                self.calibration.loss_scale, on_step=on_step, fixed_groups=decided,
                step_scale=step_scale,
            )  # fmt: skip
        full = cfg.mode == "full"
        cheeks = photo_cheeks(faces) if full or (cfg.mode == "fast" and cfg.fast_colors) else None
        irises = photo_irises(faces) if cfg.iris_color and cfg.mode != "patent" else None
        vectors = found.vectors.detach().clone()
        steps = self._steps(cfg, found, targets, chins, decided, evidence, cheeks, curled)
        if irises is not None:  # after the colours: the eyes' own, read off the iris
            steps.append(lambda v: match_irises(v, irises, self.rig, self.spec, cfg.iris_color))
        if self._recognises(cfg):  # last: the recogniser reads the final colours and hair too
            steps.append(self._recognition_step(cfg, descriptors, targets))
        for step in steps:
            vectors = step(vectors)
        results = self._results(photos_faces, vectors, found, targets, cfg, budget, chins, evidence)
        self.rig.forget()  # the next photos share no render
        return results

    def _recognises(self, cfg: FitConfig) -> bool:
        """Whether the fit ends by solving the shape with the recogniser's term."""
        return (
            cfg.mode in SERVICE_MODES
            and cfg.landmark_shape
            and self.networks.recognition is not None
            and cfg.w_recognition > 0
        )

    def _recognition_step(self, cfg: FitConfig, descriptors, targets: PhotoTargets):
        """The shape solved again with dlib's reading of the character (`recognition`): the
        descriptor imitator's, or without one its real render's; as a step: vectors (B, D) ->
        vectors; `descriptors` (B, 128): the photos'."""
        response, expressions = self.networks.recognition.matrix(), self._expression_columns()
        imitator = self.networks.descriptor  # the character read without drawing it

        def step(v: torch.Tensor) -> torch.Tensor:
            seen = imitator.describe(v) if imitator else rendered_descriptors(v, self.rig)
            return recognised_shapes(
                v, descriptors, seen, targets.landmarks, self.spec, response, cfg.w_recognition,
                expressions,
            )  # fmt: skip

        return step

    def _expression_columns(self):
        basis = self.networks.expressions
        return basis.columns() if basis is not None else None

    def _read_from_photo(self, start, descriptors, targets, cfg) -> tuple[torch.Tensor, list]:
        """`start` with the controls read from the photo itself rather than by the networks
        trained on renders, and their indices: a rig's sex, age and ethnic form (the
        attribute reader, from the photos' `descriptors`) and its face shape (solved from the
        landmarks)."""
        kept: list[int] = []
        if reads_macros(cfg, self.networks, self.spec):
            readings = read_photos(self.networks.attributes, descriptors)
            start, macros = with_macros(start, readings, self.spec)
            start = within_bounds(start, self.spec)  # what the age allows (grey hair)
            kept += macros
        if cfg.landmark_shape and cfg.mode != "patent":
            start = shape_from_landmarks(
                start, targets.landmarks, self.spec, expressions=self._expression_columns()
            )
            kept += shape_controls(self.spec)
        return start, kept

    def _steps(
        self,
        cfg: FitConfig,
        found: SearchResult,
        targets,
        chins,
        decided,
        evidence=None,
        cheeks=None,
        curled=None,
    ) -> list:
        """The post-search steps of `cfg.mode`, in order, each vectors (B, D) -> vectors;
        those that draw options tell `evidence` how each did. `cheeks` (B, 3): the photos'
        cheek Lab, which the skin's colour is matched to; `curled` (B,): whose hair may have a
        curled hairstyle."""
        rig, spec = self.rig, self.spec

        def outlines(on_average_face: bool):
            return lambda v: choose_outlines(
                v, targets, rig, spec, cfg.silhouette_groups, evidence=evidence,
                extents=cfg.silhouette_extents, on_average_face=on_average_face,
                unworn=unworn_options(v, spec, cfg, curled),
            )  # fmt: skip

        if cfg.mode == "fast":  # the start (its beard from the chin), then on the average face
            steps = [outlines(on_average_face=True)] if cfg.fast_outlines else []
            if cfg.fast_colors:  # one table per region, whichever hairstyle was chosen
                steps.append(lambda v: match_colors_from_tables(v, targets, rig, spec, cfg, cheeks))
            if cfg.fast_beard_density:  # after the colours: the beard takes the hair's
                steps.append(lambda v: match_beard_density(v, chins, rig, spec, cfg, on_probe=True))
            return steps

        def shave(v):  # no beard where the photo's chin is clean
            return shave_clean_chins(v, chins, spec, cfg)

        bearded = [chin is not None for chin in chins] if cfg.mode == "full" else None

        def at_chin(i: int, v: torch.Tensor) -> torch.Tensor:  # a beard as the chin has it
            return at_chin_density(v, chins[i], rig, cfg, spec.continuous_index[cfg.beard_density])

        chin_beards = chin_beard_options(spec, cfg)

        def options(decided: tuple[str, ...]):
            return lambda v: check_options(
                v, found.discrete_probabilities, targets, rig, self.layout, cfg, decided, bearded,
                evidence, at_chin if cfg.beard_density else None, chin_beards,
            )  # fmt: skip

        if cfg.mode == "patent":
            return [options(decided)]
        outlined = tuple(group for group, _ in cfg.silhouette_groups)
        return [
            # after the search, so that the shape it fitted is the same whichever outline wins
            outlines(on_average_face=False),
            shave,
            options(decided + outlined),
            # last, on the final options: a beard or a bald head changes what the chin, the
            # skin and the hair regions show
            lambda v: match_beard_density(v, chins, rig, spec, cfg),
            lambda v: match_colors(v, targets, rig, spec, cfg, cheeks=cheeks),
        ]

    def _results(self, photos_faces, vectors, found, targets, cfg, budget, chins, evidence):
        """One `FitResult` per face, with each group's options in the order the `evidence`
        ranks them. `full` and `patent` judge the answer on its real render; `fast` returns
        it unjudged and draws nothing until a picture is asked for."""
        judged = cfg.mode != "fast"
        renders = [self.rig.render(v) for v in vectors] if judged else None
        real_loss = (
            self.rig.loss(vectors, renders, targets, cfg) if judged else [None] * len(vectors)
        )
        return [
            fit_result(
                self.spec, self.networks.models, photo_face, vectors[i],
                (lambda r=renders[i]: r) if judged else partial(self.rig.render, vectors[i]),
                partial(self._imitated, vectors[i]),
                fit_block(
                    cfg.mode, found, i, real_loss[i], budget, cfg.threshold, self.calibration,
                    beard_from_chin=chins[i] is not None,
                    runner_ups=runner_ups(
                        self.spec, vectors[i], found.discrete_probabilities, evidence, i
                    ),
                ),
                found.history[i],
            )
            for i, photo_face in enumerate(photos_faces)
        ]  # fmt: skip

    def _imitated(self, vector: torch.Tensor) -> np.ndarray:
        """The imitator's (s, s, 3) uint8 picture of one (D,) vector."""
        with torch.no_grad():
            image, _ = self.networks.imitator(vector[None])
        return tensor_to_image(image[0])

    def targets_of(self, faces: list[Any]) -> tuple[torch.Tensor, PhotoTargets]:
        """Aligned faces -> their images (B, 3, S, S) and what the loss compares renders to."""
        return aligned_targets(faces, self.networks.extractor, self.labels, self.device)


def load_fitter(settings: CoreSettings | None = None, config: FitConfig | None = None) -> Fitter:
    """The installed networks and their calibration, and `config` (None: the calibrated
    budget and threshold, without the steps whose rig parts this rig lacks).

    Raises `ModelError` (code MODEL_MISSING) when a required network is not installed, so a
    worker can fail a job with a clear code instead of producing parameters it cannot judge.
    """
    from facefit.device import resolve_device
    from facefit.rig.spec import load_spec

    settings = settings or CoreSettings.from_env()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    device = resolve_device(settings.device)
    networks = load_networks(settings.weights_dir, device)
    calibration = calibration_for(settings.weights_dir, networks)
    logger.info("%s", summary(calibration))
    if config is None:
        calibrated = FitConfig(max_iters=calibration.max_iters, threshold=calibration.threshold)
        config = for_rig(calibrated, load_spec())
    return Fitter(networks, calibration, config, device)
