"""The human rig's controls: names, docs and the MakeHuman morph targets each one drives.

Every continuous control lies in [0, 1] with 0.5 the average face. A face control with two
poles blends its low targets in below 0.5 and its high targets above (weight |2v - 1|, `morph.FACE_GAIN`), as
MakeHuman's own decr|incr sliders do; `{s}` stands for both sides (`l`, `r`), so one control
moves both eyes, cheeks or ears. Macro controls are interpolated as MakeHuman does
(`facefit.rig.human.morph.macro_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Morph:
    """A face control: what 0 and 1 look like, and the targets at each pole."""

    name: str
    group: str
    doc: str
    low: tuple[str, ...]
    high: tuple[str, ...]


def _m(name: str, group: str, doc: str, low: str, high: str) -> Morph:
    def expand(t: str) -> tuple[str, ...]:
        return (t.format(s="l"), t.format(s="r")) if "{s}" in t else (t,)

    return Morph(name, group, doc, expand(low), expand(high))


MACROS = (
    ("sex", "macro", "0 = feminine form (MakeHuman gender 0), 1 = masculine form"),
    ("age", "macro", "0 = 18 years, 0.5 = 44 years, 1 = 70 years (linear in years)"),
    ("body_weight", "macro", "0 = thin face (MakeHuman weight 50 %), 1 = heavy (150 %)"),
    ("african", "macro", "African form: 0 = none of it, 1 = as much as the two other shares "
                         "allow (the three are normalised to sum to 1; all 0.5 = equal thirds)"),
    ("asian", "macro", "Asian form: 0 = none, 1 = full share (normalised with the other two)"),
    ("caucasian", "macro", "Caucasian form: 0 = none, 1 = full share (normalised with the "
                           "other two)"),
)  # fmt: skip

MORPHS = (
    _m("head_round_square", "head", "0 = round head, 1 = square head", "head-round", "head-square"),
    _m("head_oval_rectangular", "head", "0 = oval head, 1 = rectangular (long, straight-sided)",
       "head-oval", "head-rectangular"),
    _m("head_taper", "head", "0 = inverted triangle (wide temples, narrow jaw), 1 = triangle "
       "(narrow temples, wide jaw)", "head-invertedtriangular", "head-triangular"),
    _m("head_width", "head", "0 = narrow head, 1 = wide", "head-scale-horiz-decr",
       "head-scale-horiz-incr"),
    _m("head_height", "head", "0 = short head, 1 = tall", "head-scale-vert-decr",
       "head-scale-vert-incr"),
    _m("head_fat", "head", "0 = lean face, 1 = full face", "head-fat-decr", "head-fat-incr"),
    _m("head_age", "head", "0 = younger-looking head, 1 = older (sagging)", "head-age-decr",
       "head-age-incr"),
    _m("forehead_height", "forehead", "0 = low forehead, 1 = high", "forehead-scale-vert-decr",
       "forehead-scale-vert-incr"),
    _m("forehead_temples", "forehead", "0 = narrow temples, 1 = wide", "forehead-temple-decr",
       "forehead-temple-incr"),
    _m("forehead_bulge", "forehead", "0 = flat brow ridge, 1 = bulging (nubian)",
       "forehead-nubian-decr", "forehead-nubian-incr"),
    _m("brow_height", "eyebrows", "0 = low brows, 1 = high", "eyebrows-trans-down",
       "eyebrows-trans-up"),
    _m("brow_angle", "eyebrows", "0 = outer ends down, 1 = outer ends up", "eyebrows-angle-down",
       "eyebrows-angle-up"),
    _m("brow_depth", "eyebrows", "0 = brow ridge set back, 1 = forward",
       "eyebrows-trans-backward", "eyebrows-trans-forward"),
    _m("eye_spacing", "eyes", "0 = eyes close together, 1 = far apart", "{s}-eye-trans-in",
       "{s}-eye-trans-out"),
    _m("eye_height", "eyes", "0 = eyes low in the face, 1 = high", "{s}-eye-trans-down",
       "{s}-eye-trans-up"),
    _m("eye_size", "eyes", "0 = small eyes, 1 = large", "{s}-eye-scale-decr",
       "{s}-eye-scale-incr"),
    _m("eye_opening_inner", "eyes", "0 = narrow opening near the nose, 1 = tall",
       "{s}-eye-height1-decr", "{s}-eye-height1-incr"),
    _m("eye_opening_middle", "eyes", "0 = narrow opening at the middle, 1 = tall",
       "{s}-eye-height2-decr", "{s}-eye-height2-incr"),
    _m("eye_opening_outer", "eyes", "0 = narrow opening at the outer end, 1 = tall",
       "{s}-eye-height3-decr", "{s}-eye-height3-incr"),
    _m("eye_corner_inner", "eyes", "0 = inner corners down, 1 = up", "{s}-eye-corner1-down",
       "{s}-eye-corner1-up"),
    _m("eye_corner_outer", "eyes", "0 = outer corners down (drooping), 1 = up (slanted)",
       "{s}-eye-corner2-down", "{s}-eye-corner2-up"),
    _m("eye_depth_inner", "eyes", "0 = inner eye set in, 1 = pushed out", "{s}-eye-push1-in",
       "{s}-eye-push1-out"),
    _m("eye_depth_outer", "eyes", "0 = outer eye set in, 1 = pushed out", "{s}-eye-push2-in",
       "{s}-eye-push2-out"),
    _m("eye_bags", "eyes", "0 = smooth under-eyes, 1 = heavy bags", "{s}-eye-bag-decr",
       "{s}-eye-bag-incr"),
    _m("eye_bag_height", "eyes", "0 = bags close under the eye, 1 = lower and larger",
       "{s}-eye-bag-height-decr", "{s}-eye-bag-height-incr"),
    _m("epicanthus", "eyes", "0 = no inner-corner fold, 1 = strong epicanthic fold",
       "{s}-eye-epicanthus-in", "{s}-eye-epicanthus-out"),
    _m("eyelid_fold", "eyes", "0 = upper-lid fold low (hooded), 1 = high (deep-set crease)",
       "{s}-eye-eyefold-down", "{s}-eye-eyefold-up"),
    _m("eyelid_fold_shape", "eyes", "0 = concave upper lid, 1 = convex (full)",
       "{s}-eye-eyefold-concave", "{s}-eye-eyefold-convex"),
    _m("eyelid_fold_angle", "eyes", "0 = fold falls to the outer end, 1 = rises",
       "{s}-eye-eyefold-angle-down", "{s}-eye-eyefold-angle-up"),
    _m("nose_height", "nose", "0 = nose set low, 1 = high", "nose-trans-down", "nose-trans-up"),
    _m("nose_length", "nose", "0 = short nose, 1 = long", "nose-scale-vert-decr",
       "nose-scale-vert-incr"),
    _m("nose_width", "nose", "0 = narrow nose, 1 = wide", "nose-scale-horiz-decr",
       "nose-scale-horiz-incr"),
    _m("nose_projection", "nose", "0 = flat nose, 1 = projecting", "nose-scale-depth-decr",
       "nose-scale-depth-incr"),
    _m("nostril_width", "nose", "0 = narrow nostrils, 1 = wide", "nose-nostrils-width-decr",
       "nose-nostrils-width-incr"),
    _m("nose_tip_width", "nose", "0 = narrow tip, 1 = broad, bulbous tip",
       "nose-point-width-decr", "nose-point-width-incr"),
    _m("nose_tip_angle", "nose", "0 = tip points down, 1 = upturned", "nose-point-down",
       "nose-point-up"),
    _m("nose_base", "nose", "0 = nose base low, 1 = raised", "nose-base-down", "nose-base-up"),
    _m("nose_bridge_width", "nose", "0 = narrow upper bridge, 1 = wide", "nose-width1-decr",
       "nose-width1-incr"),
    _m("nose_mid_width", "nose", "0 = narrow middle bridge, 1 = wide", "nose-width2-decr",
       "nose-width2-incr"),
    _m("nose_lower_width", "nose", "0 = narrow lower nose, 1 = wide", "nose-width3-decr",
       "nose-width3-incr"),
    _m("nose_compression", "nose", "0 = compressed (pinched) nose, 1 = uncompressed",
       "nose-compression-compress", "nose-compression-uncompress"),
    _m("nose_curve", "nose", "0 = concave (scooped) profile, 1 = convex", "nose-curve-concave",
       "nose-curve-convex"),
    _m("nose_greek", "nose", "0 = average, 1 = straight Greek line from the forehead",
       "nose-greek-decr", "nose-greek-incr"),
    _m("nose_hump", "nose", "0 = no hump, 1 = strong bridge hump", "nose-hump-decr",
       "nose-hump-incr"),
    _m("nose_volume", "nose", "0 = slim nose, 1 = fleshy", "nose-volume-decr", "nose-volume-incr"),
    _m("nostril_angle", "nose", "0 = nostrils angled down, 1 = up", "nose-nostrils-angle-down",
       "nose-nostrils-angle-up"),
    _m("nose_septum_angle", "nose", "0 = septum angled down, 1 = up", "nose-septumangle-decr",
       "nose-septumangle-incr"),
    _m("nose_flaring", "nose", "0 = narrow nostril wings, 1 = flared", "nose-flaring-decr",
       "nose-flaring-incr"),
    _m("mouth_width", "mouth", "0 = narrow mouth, 1 = wide", "mouth-scale-horiz-decr",
       "mouth-scale-horiz-incr"),
    _m("mouth_height", "mouth", "0 = thin mouth, 1 = tall", "mouth-scale-vert-decr",
       "mouth-scale-vert-incr"),
    _m("mouth_position", "mouth", "0 = mouth set low, 1 = high", "mouth-trans-down",
       "mouth-trans-up"),
    _m("mouth_projection", "mouth", "0 = mouth set back, 1 = forward", "mouth-trans-backward",
       "mouth-trans-forward"),
    _m("upper_lip_height", "mouth", "0 = thin upper lip, 1 = tall", "mouth-upperlip-height-decr",
       "mouth-upperlip-height-incr"),
    _m("upper_lip_width", "mouth", "0 = short upper lip, 1 = wide", "mouth-upperlip-width-decr",
       "mouth-upperlip-width-incr"),
    _m("upper_lip_volume", "mouth", "0 = flat upper lip, 1 = full", "mouth-upperlip-volume-decr",
       "mouth-upperlip-volume-incr"),
    _m("upper_lip_middle", "mouth", "0 = upper lip centre down, 1 = up",
       "mouth-upperlip-middle-down", "mouth-upperlip-middle-up"),
    _m("upper_lip_ends", "mouth", "0 = upper lip ends down, 1 = up", "mouth-upperlip-ext-down",
       "mouth-upperlip-ext-up"),
    _m("lower_lip_height", "mouth", "0 = thin lower lip, 1 = tall", "mouth-lowerlip-height-decr",
       "mouth-lowerlip-height-incr"),
    _m("lower_lip_width", "mouth", "0 = short lower lip, 1 = wide", "mouth-lowerlip-width-decr",
       "mouth-lowerlip-width-incr"),
    _m("lower_lip_volume", "mouth", "0 = flat lower lip, 1 = full", "mouth-lowerlip-volume-decr",
       "mouth-lowerlip-volume-incr"),
    _m("lower_lip_middle", "mouth", "0 = lower lip centre down, 1 = up",
       "mouth-lowerlip-middle-down", "mouth-lowerlip-middle-up"),
    _m("lower_lip_ends", "mouth", "0 = lower lip ends down, 1 = up", "mouth-lowerlip-ext-down",
       "mouth-lowerlip-ext-up"),
    _m("cupids_bow", "mouth", "0 = flat cupid's bow, 1 = pronounced", "mouth-cupidsbow-decr",
       "mouth-cupidsbow-incr"),
    _m("cupids_bow_width", "mouth", "0 = narrow cupid's bow, 1 = wide",
       "mouth-cupidsbow-width-decr", "mouth-cupidsbow-width-incr"),
    _m("philtrum_volume", "mouth", "0 = flat philtrum, 1 = full", "mouth-philtrum-volume-decr",
       "mouth-philtrum-volume-incr"),
    _m("mouth_corners", "mouth", "0 = corners down, 1 = corners up", "mouth-angles-down",
       "mouth-angles-up"),
    _m("dimples", "mouth", "0 = no dimples, 1 = deep dimples", "mouth-dimples-in",
       "mouth-dimples-out"),
    _m("laugh_lines", "mouth", "0 = smooth, 1 = deep nasolabial folds", "mouth-laugh-lines-in",
       "mouth-laugh-lines-out"),
    _m("ear_size", "ears", "0 = small ears, 1 = large", "{s}-ear-scale-decr", "{s}-ear-scale-incr"),
    _m("ear_height", "ears", "0 = ears set low, 1 = high", "{s}-ear-trans-down",
       "{s}-ear-trans-up"),
    _m("ear_length", "ears", "0 = short ears, 1 = long", "{s}-ear-scale-vert-decr",
       "{s}-ear-scale-vert-incr"),
    _m("ear_lobe", "ears", "0 = small lobes, 1 = large", "{s}-ear-lobe-decr", "{s}-ear-lobe-incr"),
    _m("ear_protrusion", "ears", "0 = ears flat to the head, 1 = sticking out",
       "{s}-ear-wing-decr", "{s}-ear-wing-incr"),
    _m("ear_shape", "ears", "0 = pointed top, 1 = triangular", "{s}-ear-shape-pointed",
       "{s}-ear-shape-triangle"),
    _m("chin_width", "chin", "0 = narrow chin, 1 = wide", "chin-width-decr", "chin-width-incr"),
    _m("chin_height", "chin", "0 = short chin, 1 = tall", "chin-height-decr", "chin-height-incr"),
    _m("chin_prominence", "chin", "0 = receding chin, 1 = prominent", "chin-prominent-decr",
       "chin-prominent-incr"),
    _m("chin_cleft", "chin", "0 = no cleft, 1 = deep cleft", "chin-cleft-decr", "chin-cleft-incr"),
    _m("jaw_width", "chin", "0 = narrow jaw angles, 1 = wide, square jaw", "chin-bones-decr",
       "chin-bones-incr"),
    _m("jaw_drop", "chin", "0 = short jaw line, 1 = long, dropped jaw", "chin-jaw-drop-decr",
       "chin-jaw-drop-incr"),
    _m("prognathism", "chin", "0 = jaw set back, 1 = jutting lower jaw", "chin-prognathism-decr",
       "chin-prognathism-incr"),
    _m("cheek_volume", "cheek", "0 = hollow cheeks, 1 = full", "{s}-cheek-volume-decr",
       "{s}-cheek-volume-incr"),
    _m("cheekbones", "cheek", "0 = flat cheekbones, 1 = prominent", "{s}-cheek-bones-decr",
       "{s}-cheek-bones-incr"),
    _m("cheek_inner", "cheek", "0 = flat inner cheeks, 1 = full", "{s}-cheek-inner-decr",
       "{s}-cheek-inner-incr"),
    _m("cheek_height", "cheek", "0 = cheeks low, 1 = high", "{s}-cheek-trans-down",
       "{s}-cheek-trans-up"),
    _m("neck_width", "neck", "0 = thin neck, 1 = thick", "neck-scale-horiz-decr",
       "neck-scale-horiz-incr"),
    _m("double_chin", "neck", "0 = none, 1 = a double chin", "neck-double-decr", "neck-double-incr"),
)  # fmt: skip

COLOURS = (
    ("skin_tone", "skin", "0 = very light skin (albedo L* 80), 1 = very dark (L* 22)"),
    ("skin_undertone", "skin", "0 = pink-red undertone (hue 15 deg), 0.5 = neutral, "
                               "1 = golden-olive (hue 75 deg)"),
    ("skin_saturation", "skin", "0 = muted, greyish skin (chroma 4), 1 = vivid, ruddy or "
                                "golden skin (chroma 48 on light skin, 29 on the darkest)"),
    ("eye_color", "eyes", "0 = dark brown, 0.25 brown, 0.5 hazel, 0.75 green, 1 = light blue"),
    ("brow_color", "eyebrows", "0 = brows as light as the hair (or skin when bald), 1 = near black"),
    ("brow_density", "eyebrows", "0 = sparse, fine brows, 1 = dense, full brows"),
    ("lip_color", "mouth", "0 = lips close to the skin, 1 = deep red-pink lips"),
    ("hair_color", "hair", "0 = black, 0.25 dark brown, 0.5 brown, 0.75 dark blond, 1 = light blond"),
    ("hair_redness", "hair", "0 = ash (no red), 0.5 = natural, 1 = red/copper"),
    ("hair_grey", "hair", "0 = no grey, 1 = fully grey/white"),
    ("hair_volume", "hair", "0 = hair as MakeHuman models it, close to the head; 1 = standing "
                            "off the head 1.8 times as far (volume at the crown and sides)"),
    ("facial_hair_density", "facial_hair", "0 = sparse facial hair, 1 = dense (style from the "
                                           "facial_hair group)"),
)  # fmt: skip

HAIRSTYLES = ("bald", "buzz", "short01", "short02", "short03", "short04", "receding", "bob01",
              "bob02", "long01", "long_curly", "ponytail01", "braid01", "afro01")  # fmt: skip
# own variants: a proxy drawn with a different hairline, or curled
HAIRSTYLE_PROXY = {"receding": "short02", "long_curly": "long01"}
CURLED = ("long_curly", "afro01")  # shaded as coils, not strands
# Hair tied back and hair cut short show one front (`ponytail01` and `short04` draw the same
# outline): the length behind the head, which no frontal photo shows, follows the sex the
# attribute reader reads, as most people wear it. Tied styles for women, short cuts for men.
TIED = ("ponytail01", "braid01")
CUT_SHORT = ("short01", "short02", "short03", "short04", "receding")
# how each hairstyle wears the hair, in the words of the London people's by-eye labels
# (`facefit.data.faces.hair_length_by_eye`), so `facefit eval photos` can tell whether long
# hair stayed long and a bald head bald
HAIR_LENGTH = {"bald": "shaved", "buzz": "shaved", "short01": "short", "short02": "short",
               "short03": "short", "short04": "short", "receding": "short", "afro01": "short",
               "bob01": "down", "bob02": "down", "long01": "down", "long_curly": "down",
               "ponytail01": "tied", "braid01": "tied"}  # fmt: skip
EYEBROW_STYLES = tuple(f"eyebrow{i:03d}" for i in range(1, 13))
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "full_beard")
LABELS = ("background", "skin", "hair", "left_brow", "right_brow", "left_eye", "right_eye",
          "nose", "upper_lip", "inner_mouth", "lower_lip")  # fmt: skip
