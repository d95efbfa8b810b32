"""Every knob of the fit in one frozen dataclass, so a run is described by one object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODES = ("full", "fast", "patent")


def given(**options: Any) -> dict[str, Any]:
    """The options a caller was actually given, as fit overrides.

    An unset CLI flag or job field arrives as None and means "the loaded config's value";
    an override passed to the `Fitter` itself is taken as is, so None there switches off a
    step whose field allows it (`beard_group=None`).
    """
    return {name: value for name, value in options.items() if value is not None}


@dataclass(frozen=True)
class FitConfig:
    """Loss weights, schedule and stopping rule of the parameter search.

    Defaults are chosen by cross-validation over the identities of the shared photos
    (`bench/calibrate_fit.py`), never on single photos.
    """

    mode: str = "full"  # full: predictor's start + refinement; fast: predictor only; patent: mean
    # The iteration budget, chosen by bench/calibrate_fit.py among 4, 6, 8 and 12 (1.5 s per
    # face on two CPU cores bounds it) by how well the fits recognise the training folds'
    # people across expressions: the loss keeps falling with more iterations, identity not
    # always. It is calibrated for `full`; `patent` starts from the average face and needs
    # more (its baseline in docs/benchmarks.md runs `--max-iters 12`).
    max_iters: int = 6
    # Stop once similarity >= threshold (patent claim 2). Calibrated by bench/calibrate_fit.py:
    # the earliest stop whose mean loss excess over the full run stays under 0.2 % on the
    # training folds' photos (docs/benchmarks.md). `load_fitter` takes this, `max_iters` and
    # `loss_scale` from weights/calibration.json when it was measured on the installed
    # networks; the values here are the fallback, as calibrated for the shipped ones. With
    # those no threshold kept the excess under 0.2 % (the loss is lowest after the first
    # update on most photos), so the rule took its highest candidate, which no photo
    # reaches: every fit runs its 6 iterations.
    threshold: float = 0.995
    # Where `full` starts the continuous controls: 1 = the predictor's guess, 0 = the average
    # face (the patent's start); discrete groups always start from the predictor's choice.
    # Chosen on the training folds' people among 0, 0.5 and 1 for each set of networks
    # (docs/benchmarks.md): with the rig 2.1 networks the predictor's guess recognises people
    # best and lands closest to their landmarks.
    predictor_continuous_weight: float = 1.0
    # How much of `full`'s continuous start comes from the controls reader (`facefit.nets.
    # controls`, where installed) rather than the predictor: 0 the predictor alone, 1 the
    # reader alone. The reader reads rig renders far better (it sees colour and shading,
    # which the predictor's parse features cannot) but has seen photos only as jittered
    # renders; the predictor was trained on photos too. Chosen on the training folds'
    # people with 48 rig faces beside them, among 0.25, 0.5, 0.625 and 0.75: from 0.5 up they
    # are recognised alike, the rig faces come out closer the more the reader counts and
    # the photos' landmarks farther; 0.625 keeps both (docs/benchmarks.md, "The controls
    # reader").
    controls_weight: float = 0.625
    # ... except for the controls the predictor reads with a held-out error of at least this
    # (its manifest; 0.25 is the error of always answering 0.5): there it is blind, and the
    # controls reader's reading is taken alone. Above 0.25: the blend everywhere. Chosen on
    # the training folds among 0.15 and 0.2 (0.15 took controls the predictor still reads
    # on photos; docs/benchmarks.md, "Where the predictor is blind").
    predictor_blind_error: float = 0.2
    # Where both networks' held-out errors are known, the reader's share of a control is at
    # least `e_p**k / (e_p**k + e_r**k)` (k this, e_p the predictor's error, e_r the
    # reading's; 0: off): more of the reader where the predictor errs more. At 2 it is the
    # blend of two independent readings that errs least on renders, but it moves photos'
    # landmarks away (NME ratio 0.907); chosen among 1 and 2 on the training folds
    # (docs/benchmarks.md, "A third run of the controls reader, the ear reader, and blending
    # by error").
    blend_by_error: float = 1.0
    # How much the search's step of each continuous control follows the held-out error of the
    # reading it started from (`Fitter._step_scale`): 0 every control alike, 1 in proportion.
    # Rig faces come back closer the more it follows (the search no longer walks well-read
    # controls away), photos' landmarks farther (the search is what fits them to the photo);
    # chosen among 0.25, 0.5 and 1 on the training folds.
    step_by_error: float = 0.25
    # Every this many updates of `full`'s search (and before the first) the real rig renders
    # the current parameters and the imitator's output is corrected by what it missed there
    # (`facefit.fit.optimize.search`); 0: the imitator alone, as in the patent (and `patent`).
    anchor_every: int = 0
    lr: float = 0.15  # peak step size of Adam on the unconstrained parameters
    lr_warmup: float = 0.05  # fraction of max_iters spent ramping up
    lr_rampdown: float = 0.25  # fraction of max_iters spent ramping down (cosine)
    temperature_start: float = 1.0  # softmax temperature of the discrete groups at step 0
    temperature_end: float = 0.2  # ... at the last step (sharper: closer to a one-hot)
    # Weights of the named loss terms (see facefit.fit.losses).
    w_content: float = 1.0
    w_landmarks: float = 4.0
    w_color: float = 1.0
    w_prior: float = 0.01
    # similarity = exp(-loss / loss_scale): 1 for a perfect match; loss_scale is calibrated so
    # that the average face (the patent's start) scores 0.5 on the median training photo.
    loss_scale: float = 1.6914
    # Real-rig check of the discrete choice: groups whose top-2 soft weights differ by less
    # than this are re-scored with the runner-up option rendered by the real rig (option 0
    # is re-scored wherever another option was chosen).
    runner_up_margin: float = 0.2
    # The default option (no beard, the default hairstyle and brows) is kept unless the chosen
    # option's real-render loss is lower by more than this fraction: an option the photo
    # barely supports is not worth showing the player (stubble on a clean-shaven face).
    # 0.03 chosen on the training folds' people: without it 77 % of their women's photos got
    # stubble, with it none, and no identity score dropped (docs/benchmarks.md).
    default_margin: float = 0.03
    # `fast` has no render to weigh options with: there, in the same groups, option 0 stays
    # unless the predictor gives its choice at least this probability. Its facial-hair
    # output misreads photos (women's photos get stubble more often than men's at every
    # confidence); 0.95 is the lowest of 0.5-0.95 that gives stubble to at most 5 % of the
    # training folds' women's photos (docs/benchmarks.md). 0: the predictor's choice as is.
    fast_min_confidence: float = 0.95
    # The discrete groups the margin (and the re-scoring of option 0) applies to; None: all.
    # Where option 0 is not an absence (the default brows), the margin is a bias, but on the
    # training folds' photos every group with it fitted the landmarks and all controls'
    # identity best; on rig renders it cost brow-style accuracy (docs/benchmarks.md). A
    # group a detail reader decides (the brows, where `detail-brows.pt` is installed) is
    # neither re-scored nor held to the margin.
    default_margin_groups: tuple[str, ...] | None = None
    # Discrete groups decided by an outline, as (group, label class) pairs: in `full` the real
    # rig draws every option of the group on the searched face, and an option whose class
    # mask matches the photo's parse clearly better than the searched one replaces it
    # (`Fitter._silhouette_choice`). A hairstyle is mostly an outline, which the loss weighs
    # too little to choose one: 110 of the 134 shared photos got the default short crop and
    # eleven came out bald. Empty: none. Not in `fast` (ten renders a face cost more than
    # its whole budget) nor `patent`.
    silhouette_groups: tuple[tuple[str, str], ...] = (("hairstyle", "hair"),)
    # ... by how much (a fraction of the searched option's disagreement) an outline must be
    # better to replace it. 0.2 chosen by the training folds' hair overlap with the template
    # labels and the hairstyle accuracy on rig renders: smaller margins overlap photos'
    # hair slightly better and recover the rig's own hairstyles worse (docs/benchmarks.md).
    silhouette_margin: float = 0.2
    # Colour controls set, in `full`, by matching a colour region's mean colour (a key of
    # `facefit.fit.losses.COLOR_REGIONS`) on real renders, one control after the other at
    # `color_steps` values each (`Fitter._color_match`). The predictor reads hair colour
    # poorly (its hair-red error is near chance on rig renders) and a few updates of the
    # search barely move it: dark brown hair came out copper, blond grey. Matched, the hair
    # colour's distance to the photos' falls by a third (docs/benchmarks.md), for 18 renders
    # a face at the extractor's resolution. The skin, matched too, gained less than the
    # renders cost (and with 5 steps lost): the predictor already reads skin tone.
    color_matches: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("hair", ("hair_color", "hair_redness")),
    )
    color_steps: int = 9
    # Facial hair read from the photo's own pixels. The loss does not tell a man's stubble
    # from a woman's bare chin, so the default-option margin keeps almost every face
    # clean-shaven. But a chin much darker than the cheeks (`beard_chin_lightness`, CIE L*,
    # `facefit.fit.skin_regions.chin_minus_cheek_lightness`) or dotted with hairs
    # (`beard_chin_texture`, `chin_minus_cheek_texture`) is a beard: there, in `full`, the
    # real-rig check rules out option 0 of `beard_group` ("none"); where the search chose
    # it, every other option is drawn and the best one kept. Each threshold sits just past
    # the training folds' women's photos, whom no beard should reach (`bench/beard_signal.py
    # --training-folds`): their darkest chin is -17.1, their most textured 0.05. None: off.
    beard_group: str | None = "facial_hair"
    beard_chin_lightness: float = -18.0
    beard_chin_texture: float = 0.1
    # ... and, where that gave a beard, this continuous control (how dense the beard is
    # drawn) is matched to the photo's chin on real renders (`Fitter._match_beard_density`;
    # the search leaves it wherever, and the stubble it chose came out faint). None: not.
    beard_density: str | None = "facial_hair_density"

    def holds_default(self, group: str) -> bool:
        """Whether option 0 of `group` stays unless the evidence is clear (`default_margin`
        in `full`, `fast_min_confidence` in `fast`): `default_margin_groups`, None for all."""
        return self.default_margin_groups is None or group in self.default_margin_groups

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.controls_weight <= 1.0:
            raise ValueError("controls_weight must be in [0, 1]")
        if self.max_iters < 0:
            raise ValueError("max_iters must be >= 0")
        if self.blend_by_error < 0:
            raise ValueError("blend_by_error must be >= 0 (0: off)")
        if self.step_by_error < 0:
            raise ValueError("step_by_error must be >= 0 (0: every control alike)")
        if self.anchor_every < 0:
            raise ValueError("anchor_every must be >= 0 (0: never)")
        if not 0.0 <= self.fast_min_confidence <= 1.0:
            raise ValueError("fast_min_confidence must be in [0, 1]")
        if self.color_steps < 2:
            raise ValueError("color_steps must be >= 2")
        if not 0.0 <= self.silhouette_margin < 1.0:
            raise ValueError("silhouette_margin must be in [0, 1)")
        if self.default_margin < 0.0:
            raise ValueError("default_margin must be >= 0")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
