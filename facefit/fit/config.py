"""What a caller of the fit may change, in one frozen dataclass; defaults are what ships.

Everything the fit decides from data (the stopping rule, the loss scale, which network owns
which control) is not here: `facefit calibrate` writes it beside the weights
(`facefit.fit.calibration`). The tuned constants of the post-search steps live in their
stage modules; docs/decisions.md says how each was chosen. The rig parts those steps act on
differ from rig to rig: `RIG_PARTS` holds one small table per rig, chosen by its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facefit.rig.human.controls import CURLED, CUT_SHORT, TIED

MODES = ("full", "fast", "patent")
SERVICE_MODES = ("full", "fast")  # `patent` is the baseline of `facefit eval`, not a service
PATENT_MAX_ITERS = 12  # the patent's loop starts from the average face: its own budget
SEX = "sex"  # the control `womens_options` and `mens_options` read: below 0.5 a woman


def given(**options: Any) -> dict[str, Any]:
    """The options a caller was actually given, as fit overrides.

    An unset CLI flag or job field arrives as None and means "the loaded config's value";
    an override passed to the `Fitter` itself is taken as is, so None there switches off a
    step whose field allows it (`beard_group=None`).
    """
    return {name: value for name, value in options.items() if value is not None}


@dataclass(frozen=True)
class RigParts:
    """The parts of one rig that the post-search steps act on (`FitConfig`'s fields)."""

    silhouette_groups: tuple[tuple[str, str], ...]  # (group, label class) chosen by outline
    color_matches: tuple[tuple[str, tuple[str, ...]], ...]  # (colour region, its controls)
    beard_group: str | None  # the group a beard-like chin rules option 0 out of
    beard_density: str | None  # the control matched to the chin where it did
    default_margin_groups: tuple[str, ...] | None = None  # groups that hold option 0; None: all
    # the face's shape solved from the photo's landmarks at the start (facefit.fit.shape):
    # a rig whose landmarks are a known function of its controls
    landmark_shape: bool = False
    # (outlined group, control) pairs: the control sets how far the group's outline reaches
    # (hair volume), and the outline step draws every option at a few of its values
    silhouette_extents: tuple[tuple[str, str], ...] = ()
    # `fast` chooses the outlined groups too, each option drawn once on the average face
    fast_outlines: bool = False
    # `fast` matches the colours too, read off tables of the average face
    fast_colors: bool = False
    # `fast` matches a kept beard's density to the chin too, on the extractor-side render
    # (the predictor's gave light stubble a dark patch over the lower face)
    fast_beard_density: bool = False
    # options of the outlined groups drawn as curls: only for a photo whose hair is curled
    # (facefit.fit.hair_texture), since an outline cannot tell coils from hair tied up high
    curled_options: tuple[str, ...] = ()
    # options of the outlined groups only a woman's character wears, and only a man's: their
    # difference is what a frontal photo cannot show (the hair's length behind the head); the
    # sex is the rig's `sex` control, read from the photo at the start
    womens_options: tuple[str, ...] = ()
    mens_options: tuple[str, ...] = ()
    # the eye colour control, set from the photo's iris against the rig's (facefit.fit.iris)
    # in `full` and `fast`: the eyes' parse region at 128 px shows too little of the iris
    iris_color: str | None = None
    # the beards a chin that reads as a beard may wear (empty: any but none), and the density
    # they are drawn at there (None: as dense as the chin shows, matched on renders). Rig 3's
    # drawn beards are flat patches: on the same fitted faces both recognisers found the
    # person more often under its lightest stubble than under any other beard, a denser
    # stubble or none (docs/decisions.md)
    chin_beards: tuple[str, ...] = ()
    chin_beard_density: float | None = None
    # colour regions read by the middle colour of their sure inside, in the photo and the
    # render alike (`facefit.fit.colors.core_rgb`): rig 3's hair, whose mean mixed in its
    # sheen and, on hair tied back, the wall beside its thin band (black hair read L* 24-37,
    # 9-23 inside), so the sweep gave black hair ash blond, which the rig draws grey
    core_color_regions: tuple[str, ...] = ()


# Rig 2.2: option 0 of every group is its plain face (short crop, natural brows, no beard).
REFERENCE_PARTS = RigParts(
    silhouette_groups=(("hairstyle", "hair"),),
    color_matches=(("hair", ("hair_color", "hair_redness")),),
    beard_group="facial_hair",
    beard_density="facial_hair_density",
)
# Rig 3: the skin's three controls matched to the photo's cheeks, before the lips, whose
# colour follows the skin's; the hair's grey too, bounded by the age (`colors.AT_MOST`); the
# eyes' colour; the brows' density and colour (the predictor gave every London photo the
# sparsest brows). Only "no beard" is a default worth holding:
# hairstyle 0 is bald, brow 0 one style of twelve. The hair's outline is drawn at three
# volumes; `fast` chooses outlines too, its predictor reading photos' hair poorly (bald or
# receding for 93 of 134 London photos; rig 2.2's reads it well and keeps its answer).
HUMAN_PARTS = RigParts(
    silhouette_groups=(("hairstyle", "hair"),),
    color_matches=(
        ("skin", ("skin_tone", "skin_undertone", "skin_saturation")),
        ("hair", ("hair_color", "hair_redness", "hair_grey")),
        ("lips", ("lip_color",)),
        ("brows", ("brow_density", "brow_color")),
    ),
    beard_group="facial_hair",
    beard_density="facial_hair_density",
    default_margin_groups=("facial_hair",),
    landmark_shape=True,
    silhouette_extents=(("hairstyle", "hair_volume"),),
    fast_outlines=True,
    fast_colors=True,
    fast_beard_density=True,
    curled_options=CURLED,
    womens_options=TIED,
    mens_options=CUT_SHORT,
    chin_beards=("stubble",),
    chin_beard_density=0.0,
    iris_color="eye_color",
    core_color_regions=("hair",),
)
# A rig not named here (a studio's client) gets the reference rig's parts it has (`for_rig`).
RIG_PARTS = {"facefit-reference/2.2": REFERENCE_PARTS, "facefit-human/3.3": HUMAN_PARTS}


@dataclass(frozen=True)
class FitConfig:
    """The mode, the search's budget and schedule, the loss weights and the rig parts the
    post-search steps act on."""

    mode: str = "full"  # full: start + search + steps; fast: start + outlines; patent: eval
    max_iters: int = 4  # search updates at most (weights/calibration.json sets it)
    threshold: float = 0.995  # stop once similarity >= this (patent claim 2; calibrated)
    lr: float = 0.15  # peak Adam step on the unconstrained parameters
    lr_warmup: float = 0.05  # fraction of max_iters spent ramping the step up
    w_content: float = 1.0  # weight of the extractor-feature term (facefit.fit.losses)
    w_landmarks: float = 4.0  # ... of the 68-landmark term
    w_color: float = 1.0  # ... of the region-colour term
    w_prior: float = 0.01  # ... of the pull toward the average face
    # ... of dlib's descriptor in the fit's last shape solve (`facefit.fit.recognition`): on
    # the training folds both dlib and FaceNet, which the fit never reads, found the most
    # people at 0.03; past it neither gained and the skin's match suffered (docs/decisions.md);
    # 0 switches the step off
    w_recognition: float = 0.03
    default_margin: float = 0.03  # option 0 stays unless another renders this much better
    # The rig parts of the post-search steps (`RigParts`): the reference rig's unless chosen
    # for another rig by `for_rig`.
    default_margin_groups: tuple[str, ...] | None = REFERENCE_PARTS.default_margin_groups
    silhouette_groups: tuple[tuple[str, str], ...] = REFERENCE_PARTS.silhouette_groups
    color_matches: tuple[tuple[str, tuple[str, ...]], ...] = REFERENCE_PARTS.color_matches
    beard_group: str | None = REFERENCE_PARTS.beard_group
    beard_density: str | None = REFERENCE_PARTS.beard_density
    landmark_shape: bool = REFERENCE_PARTS.landmark_shape
    silhouette_extents: tuple[tuple[str, str], ...] = REFERENCE_PARTS.silhouette_extents
    fast_outlines: bool = REFERENCE_PARTS.fast_outlines
    fast_colors: bool = REFERENCE_PARTS.fast_colors
    fast_beard_density: bool = REFERENCE_PARTS.fast_beard_density
    curled_options: tuple[str, ...] = REFERENCE_PARTS.curled_options
    womens_options: tuple[str, ...] = REFERENCE_PARTS.womens_options
    mens_options: tuple[str, ...] = REFERENCE_PARTS.mens_options
    chin_beards: tuple[str, ...] = REFERENCE_PARTS.chin_beards
    chin_beard_density: float | None = REFERENCE_PARTS.chin_beard_density
    iris_color: str | None = REFERENCE_PARTS.iris_color
    core_color_regions: tuple[str, ...] = REFERENCE_PARTS.core_color_regions
    # a rig with sex/age/ethnic-form controls starts them from the attribute reader, and
    # the search keeps them (facefit.fit.attributes)
    macros_from_photo: bool = True

    def holds_default(self, group: str) -> bool:
        """Whether option 0 of `group` stays unless the evidence is clear."""
        return self.default_margin_groups is None or group in self.default_margin_groups

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.max_iters < 0:
            raise ValueError("max_iters must be >= 0")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        if self.default_margin < 0.0:
            raise ValueError("default_margin must be >= 0")


# What each kind of name a `FitConfig` uses must be in the rig.
NAME_KINDS = {
    "group": "discrete group",
    "class": "label class",
    "region": "colour region",
    "control": "continuous control",
    "option": "option of a discrete group",
}


def _rig_names(spec) -> dict[str, set[str]]:
    """Kind (a key of `NAME_KINDS`) -> the names of that kind `spec`'s rig has."""
    from facefit.fit.losses import MATCHED_REGIONS

    return {
        "group": {g.name for g in spec.discrete},
        "class": set(spec.labels),
        "region": set(MATCHED_REGIONS),
        "control": {c.name for c in spec.continuous},
        "option": {option for g in spec.discrete for option in g.options},
    }


def check_names(cfg: FitConfig, spec) -> FitConfig:
    """`cfg` if every rig part it names is in `spec`'s rig; else `SpecError`."""
    from facefit.errors import SpecError
    from facefit.fit.losses import MATCHED_REGIONS

    known = _rig_names(spec)
    named = (
        ("default_margin_groups", "group", set(cfg.default_margin_groups or ())),
        ("silhouette_groups", "group", {g for g, _ in cfg.silhouette_groups}),
        ("silhouette_groups", "class", {label for _, label in cfg.silhouette_groups}),
        ("silhouette_extents", "group", {g for g, _ in cfg.silhouette_extents}),
        ("silhouette_extents", "control", {c for _, c in cfg.silhouette_extents}),
        ("color_matches", "region", {region for region, _ in cfg.color_matches}),
        ("color_matches", "control", {c for _, cs in cfg.color_matches for c in cs}),
        ("beard_group", "group", {cfg.beard_group} - {None}),
        ("beard_density", "control", {cfg.beard_density} - {None}),
        ("curled_options", "option", set(cfg.curled_options)),
        ("womens_options", "option", set(cfg.womens_options)),
        ("mens_options", "option", set(cfg.mens_options)),
        ("chin_beards", "option", set(cfg.chin_beards)),
        ("iris_color", "control", {cfg.iris_color} - {None}),
        ("womens_options", "control", {SEX} if cfg.womens_options or cfg.mens_options else set()),
        ("core_color_regions", "region", set(cfg.core_color_regions)),
    )
    for field_name, kind, names in named:
        if unknown := names - known[kind]:
            what = NAME_KINDS[kind] + (f" {tuple(MATCHED_REGIONS)}" if kind == "region" else "")
            raise SpecError(f"{field_name} names no {what} of this rig: {unknown}")
    return cfg


def for_rig(cfg: FitConfig, spec) -> FitConfig:
    """`cfg` with the rig parts of `spec`'s rig (`RIG_PARTS`, by its id).

    A rig without a table (a studio's own client) keeps the reference rig's parts that it
    has, each dropped part logged: such a rig may have no hairstyle, hair colour or beard,
    and its fits should then go without those steps rather than refuse to start. A config
    given explicitly is checked as it is instead (`check_names`): a misspelt name fails.
    """
    from dataclasses import asdict, replace

    parts = RIG_PARTS.get(spec.rig_id)
    if parts is not None:
        return replace(cfg, **asdict(parts))
    return _without_missing_parts(cfg, spec)


def _without_missing_parts(cfg: FitConfig, spec) -> FitConfig:
    """`cfg` without the rig parts `spec` lacks, each dropped part logged."""
    import logging
    from dataclasses import replace

    logger = logging.getLogger(__name__)
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
        silhouette_extents=tuple(
            (g, c) for g, c in cfg.silhouette_extents if g in groups and c in controls
        ),
        color_matches=tuple(
            (region, kept)
            for region, cs in cfg.color_matches
            if region in known["region"] and (kept := tuple(c for c in cs if c in controls))
        ),
        beard_group=cfg.beard_group if cfg.beard_group in groups else None,
        beard_density=cfg.beard_density if cfg.beard_density in controls else None,
    )
    for field_name in (
        "default_margin_groups",
        "silhouette_groups",
        "silhouette_extents",
        "color_matches",
    ):
        if getattr(adapted, field_name) != getattr(cfg, field_name):
            logger.warning(
                "this rig lacks parts %s names: using %r", field_name, getattr(adapted, field_name)
            )
    for field_name in ("beard_group", "beard_density"):
        if getattr(adapted, field_name) != getattr(cfg, field_name):
            logger.warning(
                "this rig has no %r: the %s step is off", getattr(cfg, field_name), field_name
            )
    return adapted
