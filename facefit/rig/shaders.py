"""GLSL of the rig: one fragment program per material, each shading and labelling its pixels.

Colour and label come from the same fragment (two render targets), so the label map always
agrees with the image. Eye openings, brows, lips and beards are evaluated in rest-pose
coordinates with the formulas of `shapes.py`.
"""

from __future__ import annotations

import textwrap

import numpy as np

from facefit.rig import shapes

VERTEX = """
#version 330
uniform mat4 u_vp;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_rest;
in vec2 in_attr;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_rest;
out vec2 v_attr;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_rest = in_rest;
    v_attr = in_attr;
    gl_Position = u_vp * vec4(in_pos, 1.0);
}
"""

_CONSTANTS = f"""
const float EYE_X = {shapes.EYE_X};
const float EYE_Y = {shapes.EYE_Y};
const float EYEBALL_Z = {shapes.EYEBALL_Z};
const float EYEBALL_R = {shapes.EYEBALL_RADIUS};
const float BROW_X = {shapes.BROW_INNER_X};
const float BROW_Y = {shapes.BROW_INNER_Y};
const float MOUTH_Y = {shapes.MOUTH_Y};
const float MOUTH_W = {shapes.MOUTH_HALF_WIDTH};
const float UPPER_LIP = {shapes.UPPER_LIP};
const float LOWER_LIP = {shapes.LOWER_LIP};
"""

# Value noise for procedural detail (skin pores, hair strands), shared by both rigs' shaders.
NOISE = """
float hash(vec2 p) {
    p = fract(p * vec2(123.34, 456.21));
    p += dot(p, p + 45.32);
    return fract(p.x * p.y);
}
float vnoise(vec2 p) {
    vec2 i = floor(p);
    vec2 f = fract(p);
    vec2 u = f * f * (3.0 - 2.0 * f);
    return mix(mix(hash(i), hash(i + vec2(1, 0)), u.x),
               mix(hash(i + vec2(0, 1)), hash(i + vec2(1, 1)), u.x), u.y);
}
"""

_LIBRARY = (
    """
#version 330
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_rest;
in vec2 v_attr;
uniform vec3 u_cam;
uniform vec3 u_skin;
uniform vec3 u_lip;
uniform vec3 u_hair;
uniform vec3 u_brow;
uniform vec3 u_iris;
uniform vec3 u_shirt;
uniform float u_blush;
uniform float u_eye[6];
uniform float u_brow_shape[6];
uniform float u_brow_density;
uniform vec2 u_lips;
uniform float u_iris_size;
uniform int u_beard;
uniform float u_beard_density;
uniform vec2 u_hairline;
uniform float u_scalp;
layout(location = 0) out vec4 f_color;
layout(location = 1) out uint f_label;
"""
    + _CONSTANTS
    + NOISE
    + """float fbm(vec2 p) {
    return 0.5 * vnoise(p) + 0.3 * vnoise(p * 2.1) + 0.2 * vnoise(p * 4.3);
}

// >0 inside the eye opening (distance to the nearest lid, cm); s along the eye in [-1, 1]
float eye_open(vec2 r, out float s, out float to_upper) {
    float u = abs(r.x) - EYE_X;
    float v = r.y - EYE_Y;
    float c = cos(u_eye[5]);
    float sn = sin(u_eye[5]);
    float ul = u * c + v * sn;
    float vl = -u * sn + v * c;
    s = ul / u_eye[0];
    float base = max(1.0 - s * s, 0.0);
    float upper = u_eye[1] * pow(base, u_eye[3]) * (1.0 + u_eye[4] * s);
    float lower = -u_eye[2] * pow(base, 0.8);
    to_upper = vl - upper;
    return min(upper - vl, vl - lower) - max(abs(s) - 1.0, 0.0) * u_eye[0];
}

float brow_centre(float t) {
    t = clamp(t, 0.0, 1.0);
    float peak = u_brow_shape[2];
    float l = clamp(t / peak, 0.0, 1.0);
    float r = clamp((1.0 - t) / (1.0 - peak), 0.0, 1.0);
    float bump = t < peak ? sin(l * 1.5707963) : sin(r * 1.5707963);
    return u_brow_shape[1] * pow(bump, u_brow_shape[3]) - 0.35 * t;
}

// brow coverage in [0, 1] (before strands) and position t along the brow
float brow_cover(vec2 r, out float t, out float across) {
    float u = abs(r.x) - BROW_X;
    float w = r.y - BROW_Y;
    float c = cos(u_brow_shape[5]);
    float sn = sin(u_brow_shape[5]);
    float ul = u * c + w * sn;
    float vl = -u * sn + w * c;
    t = ul / u_brow_shape[0];
    float tc = clamp(t, 0.0, 1.0);
    float half_t = 0.5 * u_brow_shape[4] * (1.0 - 0.55 * tc) * sqrt(clamp(tc * 12.0, 0.15, 1.0));
    float d = vl - brow_centre(t);
    across = d / max(half_t, 1e-3);
    float ends = smoothstep(-0.04, 0.02, t) * (1.0 - smoothstep(0.96, 1.02, t));
    return (1.0 - smoothstep(0.75, 1.05, abs(across))) * ends;
}

float mouth_line(float x) {
    float q = clamp(abs(x) / MOUTH_W, 0.0, 1.0);
    return MOUTH_Y - 0.12 * q * q;
}
float lip_upper(float x) {
    float q = clamp(abs(x) / MOUTH_W, 0.0, 1.0);
    float bow = u_lips.x * (0.16 * exp(-pow((abs(x) - 0.55) / 0.35, 2.0))
                            - 0.18 * exp(-pow(x / 0.22, 2.0)));
    return mouth_line(x) + UPPER_LIP * pow(max(1.0 - q * q, 0.0), 0.6) + bow * (1.0 - q);
}
float lip_lower(float x) {
    float q = clamp(abs(x) / MOUTH_W, 0.0, 1.0);
    return mouth_line(x) - LOWER_LIP * pow(max(1.0 - q * q, 0.0), 0.55);
}
float lip_gap(float x) {
    float q = clamp(abs(x) / (MOUTH_W * 0.95), 0.0, 1.0);
    return u_lips.y * pow(max(1.0 - q * q, 0.0), 0.7);
}

float beard_cover(vec2 r, float front) {
    if (u_beard == 0) return 0.0;
    float x = r.x;
    float y = r.y;
    float ax = abs(x);
    float lip_top = lip_upper(x);
    float moustache = (1.0 - smoothstep(-0.1, 0.1, lip_top + 0.02 - y)) * (1.0 - smoothstep(-4.9, -4.6, y))
                    * (1.0 - smoothstep(MOUTH_W - 0.1, MOUTH_W + 0.5, ax + 0.4 * (y - lip_top)));
    moustache *= 1.0 - smoothstep(0.0, 0.3, ax - 2.8);
    float below_lip = 1.0 - smoothstep(-0.1, 0.05, y - lip_lower(x) + 0.1);
    float goatee = below_lip * (1.0 - smoothstep(1.6, 2.2, ax + 0.15 * (y + 8.0)));
    goatee = max(goatee, (1.0 - smoothstep(MOUTH_W + 0.2, MOUTH_W + 0.6, ax)) * smoothstep(-7.6, -6.6, y) * (1.0 - smoothstep(-5.3, -5.0, y)) * smoothstep(MOUTH_W - 0.2, MOUTH_W + 0.2, ax));
    float cheek_line = -3.2 - 0.55 * ax;
    float full = (1.0 - smoothstep(cheek_line - 0.4, cheek_line + 0.3, y)) * smoothstep(0.2, 0.5, front);
    float lips = (y < lip_top + 0.02 && y > lip_lower(x) - 0.05 && ax < MOUTH_W + 0.05) ? 1.0 : 0.0;
    float cover = 0.0;
    if (u_beard == 1 || u_beard == 4) cover = max(max(full, moustache), goatee);
    else if (u_beard == 2) cover = moustache;
    else if (u_beard == 3) cover = max(moustache, goatee);
    return cover * (1.0 - lips);
}

vec3 light(vec3 n, vec3 base, float spec_k, float shin, float wrap, vec3 sss) {
    vec3 v = normalize(u_cam - v_pos);
    vec3 l1 = normalize(vec3(-0.35, 0.45, 1.0));
    vec3 l2 = normalize(vec3(0.6, 0.05, 0.8));
    vec3 l3 = normalize(vec3(0.0, 0.6, -1.0));
    float d1 = dot(n, l1);
    float d2 = dot(n, l2);
    vec3 diff = 0.9 * max((d1 + wrap) / (1.0 + wrap), 0.0) * mix(vec3(1.0), sss, clamp(1.0 - d1, 0.0, 1.0) * 0.5);
    diff += 0.3 * max((d2 + wrap) / (1.0 + wrap), 0.0);
    float hemi = 0.5 + 0.5 * n.y;
    vec3 amb = mix(vec3(0.16, 0.15, 0.15), vec3(0.26, 0.26, 0.27), hemi);
    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * 0.25 * max(dot(n, l3) + 0.3, 0.0);
    vec3 h = normalize(l1 + v);
    float spec = spec_k * pow(max(dot(n, h), 0.0), shin);
    return base * (diff + amb) + vec3(spec + rim);
}
"""
)

# One program per material rather than one branching on a material id: on a software
# rasterizer (llvmpipe) this halved the render time (docs/benchmarks.md, Rig). With `discard`
# only in the skin's and the hair's programs, the other materials keep early depth tests.
#
# The skin is further split into permutations (shader variants, as games compile them): a
# software rasterizer runs every line of a program for every pixel, masking branches rather
# than skipping them, so each skin triangle is drawn by a program holding only the features
# whose region it touches (`SKIN_FEATURES`, chosen per triangle in `skin_features`).
# Outside its region a feature leaves the pixel exactly as it was, so the variants draw the
# same pixels as the full program would.

_SKIN = """
float front = v_attr.y;
float s; float to_up;
float eye = -1.0;
s = 2.0; to_up = 1.0;
#ifdef EYES
bool near_eye = abs(r.y) < 1.6 && abs(abs(r.x) - EYE_X) < 2.0;
if (near_eye) eye = eye_open(r.xy, s, to_up);
if (front > 0.5 && eye > 0.0) discard;
#endif
float ml = MOUTH_Y;
bool in_mouth = false;
#ifdef MOUTH
if (r.y < -5.0 && r.y > -8.5 && abs(r.x) < MOUTH_W + 0.2) {
    ml = mouth_line(r.x);
    in_mouth = abs(r.x) < MOUTH_W && r.y < lip_upper(r.x) && r.y > lip_lower(r.x);
    if (front > 0.5 && abs(r.x) < MOUTH_W && abs(r.y - ml) < lip_gap(r.x)) discard;
}
#endif
vec3 skin = u_skin * (0.95 + 0.05 * vnoise(r.xy * 3.0));
// cheeks, lids and around the eyes
float ax = abs(r.x);
float blush = u_blush * exp(-pow((ax - 4.2) / 1.6, 2.0) - pow((r.y + 3.4) / 1.3, 2.0));
skin = mix(skin, skin * vec3(1.0, 0.72, 0.72), blush * front);
float orbit = exp(-pow((ax - EYE_X) / 1.6, 2.0) - pow((r.y - 0.1) / 1.0, 2.0));
skin *= mix(vec3(1.0), vec3(0.9, 0.85, 0.86), orbit * front);
// nostrils
float nostril = exp(-pow((ax - 0.5) / 0.28, 2.0) - pow((r.y + 4.33) / 0.13, 2.0));
skin *= 1.0 - 0.8 * nostril * front;
#ifdef EYES
// lash line and lid crease
if (near_eye && front > 0.5 && abs(s) < 1.08) {
    float lash = 1.0 - smoothstep(0.0, 0.09, -eye) ;
    float upper_side = to_up > -0.05 ? 1.0 : 0.35;
    skin = mix(skin, vec3(0.05, 0.04, 0.04), lash * upper_side * 0.9);
    float crease = exp(-pow((to_up - 0.42) / 0.08, 2.0)) * (1.0 - s * s);
    skin *= 1.0 - 0.22 * crease;
}
#endif
float shine = 0.14;
#ifdef MOUTH
// lips
if (front > 0.5 && r.y < -5.0 && r.y > -8.5) {
    float lip_edge = min(lip_upper(r.x) - r.y, r.y - lip_lower(r.x));
    float lip_t = smoothstep(-0.03, 0.06, lip_edge) * (1.0 - smoothstep(MOUTH_W - 0.15, MOUTH_W + 0.05, ax));
    skin = mix(skin, u_lip * (0.9 + 0.1 * vnoise(r.xy * vec2(40.0, 6.0))), lip_t);
    float corner = exp(-pow((abs(r.y - ml)) / 0.05, 2.0)) * (1.0 - smoothstep(MOUTH_W - 0.3, MOUTH_W + 0.3, ax));
    skin *= 1.0 - 0.5 * corner;
    shine = mix(shine, 0.25, lip_t);
    if (in_mouth && lip_t > 0.5) label = r.y > ml ? 8u : 10u;
}
#endif
#ifdef BROWS
float t; float across;
float bc = (front > 0.5 && r.y > 0.3 && r.y < 4.5) ? brow_cover(r.xy, t, across) : 0.0;
if (bc > 0.0) {
    float strand = vnoise(vec2((r.x * 3.0 + r.y * 14.0) * 6.0, t * 10.0));
    float dens = bc * (0.55 + 0.6 * strand) * u_brow_density;
    skin = mix(skin, u_brow * (0.8 + 0.4 * strand), clamp(dens, 0.0, 1.0));
    if (bc > 0.5) label = r.x < 0.0 ? 3u : 4u;
}
#endif
if (label == 1u && front > 0.5 && v_attr.x > 0.5) label = 7u;
#ifdef BEARD
float bcov = (u_beard > 0 && front > 0.2 && r.y < -2.0) ? beard_cover(r.xy, front) : 0.0;
if (bcov > 0.0) {
    float strand = fbm(vec2(r.x * 30.0, r.y * 9.0));
    float k = u_beard == 1 ? 0.35 * u_beard_density + 0.15 : 0.6 + 0.4 * u_beard_density;
    float dens = clamp(bcov * k * (0.55 + 0.7 * strand), 0.0, 1.0);
    skin = mix(skin, u_hair * (0.6 + 0.5 * strand), dens);
    if (u_beard > 1 && bcov > 0.5) label = 2u;
}
#endif
#ifdef SCALP
skin = mix(skin, u_hair * 0.8, u_scalp * smoothstep(u_hairline.x - 0.3, u_hairline.x + 0.8, r.y + 2.5 * smoothstep(4.0, 6.5, ax)) * (1.0 - smoothstep(-2.0, 1.0, -r.z + 2.0 * (1.0 - front))) );
#endif
col = light(n, skin, shine, 26.0, 0.35, vec3(1.0, 0.55, 0.45));
"""

_EAR = """
float rim = smoothstep(0.7, 1.0, v_attr.x);
col = light(n, u_skin * (0.95 - 0.1 * (1.0 - rim)) * vec3(1.0, 0.93, 0.92), 0.08, 20.0, 0.45, vec3(1.0, 0.5, 0.4));
"""

_EYE = """
float side = v_attr.x;
vec3 c = vec3(side * EYE_X, EYE_Y, EYEBALL_Z);
vec3 d = normalize(r - c);
float rr = length(d.xy);
float iris_r = 0.47 * u_iris_size;
float ang = atan(d.y, d.x);
vec3 sclera = vec3(0.92, 0.89, 0.86) * (1.0 - 0.25 * smoothstep(0.5, 0.95, rr));
float streak = 0.75 + 0.5 * vnoise(vec2(ang * 12.0, rr * 8.0));
vec3 iris = u_iris * streak * mix(1.15, 0.7, smoothstep(0.2, 1.0, rr / iris_r));
iris = mix(iris, vec3(0.03), smoothstep(0.8, 1.0, rr / iris_r));
float pupil = 1.0 - smoothstep(0.15, 0.17, rr);
vec3 base = d.z > 0.0 && rr < iris_r ? mix(iris, vec3(0.015), pupil) : sclera;
base = mix(sclera, base, smoothstep(iris_r + 0.01, iris_r - 0.01, rr));
base *= 1.0 - 0.4 * smoothstep(0.15, 0.55, d.y);
col = light(n, base, 0.9, 90.0, 0.0, vec3(1.0));
label = side < 0.0 ? 5u : 6u;
"""

_MOUTH = """
float ml = mouth_line(r.x);
float x = r.x;
float tooth = smoothstep(0.0, 0.05, abs(fract(x * 1.6 + 0.5) - 0.5));
vec3 c = vec3(0.28, 0.07, 0.07);
if (r.y > ml + 0.02 && r.y < ml + 0.6 && abs(x) < 2.0) c = vec3(0.86, 0.83, 0.76) * (0.75 + 0.25 * tooth);
if (r.y < ml - 0.3 && r.y > ml - 0.75 && abs(x) < 1.6) c = vec3(0.78, 0.75, 0.69) * (0.75 + 0.25 * tooth);
c *= 1.0 - 0.6 * smoothstep(0.8, 2.6, abs(x));
col = c * (0.55 + 0.45 * max(n.z, 0.0));
label = 9u;
"""

_HAIR = """
float cover = v_attr.x;
float ang = atan(r.x, r.z + 0.5);
float curl = v_attr.y;
vec2 q = curl > 0.5 ? r.xy * 2.5 + vec2(0.0, r.z * 2.5) : vec2(ang * 70.0 + 1.5 * sin(r.y * 0.6), r.y * 0.35);
float strand = curl > 0.5 ? fbm(q * 1.7 + vec2(fbm(q * 0.7) * 3.0)) : fbm(q);
// front hairline follows the hairline control
float ax = abs(r.x);
float hl = u_hairline.x + u_hairline.y * r.x / 7.0 - 2.8 * smoothstep(4.0, 6.5, ax);
if (r.z > 3.0 && ax < 6.8) cover *= smoothstep(hl - 0.35, hl + 0.5, r.y);
if (cover < 0.35 + 0.5 * strand) discard;
vec3 base = u_hair * (0.55 + 0.7 * strand);
vec3 t = normalize(vec3(0.0, -1.0, 0.0) - n * dot(vec3(0.0, -1.0, 0.0), n) + vec3(1e-4));
vec3 v = normalize(u_cam - v_pos);
vec3 l1 = normalize(vec3(-0.35, 0.45, 1.0));
vec3 h = normalize(l1 + v);
float th = dot(t, h);
float kk = pow(sqrt(max(1.0 - th * th, 0.0)), 60.0);
col = light(n, base, 0.0, 1.0, 0.2, vec3(1.0)) + kk * 0.22 * mix(vec3(1.0), u_hair, 0.5) * (0.5 + strand);
label = 2u;
"""

_BODY = """
float ax = abs(r.x);
float collar = -15.0 - 3.2 * exp(-pow(ax / 3.6, 2.0)) + (r.z < 0.0 ? 3.0 : 0.0);
bool shirt = r.y < collar;
vec3 base = shirt ? u_shirt : u_skin * vec3(0.95, 0.92, 0.92);
float neck_shadow = shirt ? 1.0 : mix(0.55, 1.0, smoothstep(-10.5, -13.5, r.y));
col = light(n, base, shirt ? 0.03 : 0.08, 16.0, 0.4, vec3(1.0, 0.6, 0.5)) * neck_shadow;
label = 0u;
"""


def fragment(material: int, features: tuple[str, ...] = ()) -> str:
    """Fragment shader source of one material (`geometry.MATERIALS` ids) and skin features."""
    body = (_SKIN, _EAR, _EYE, _MOUTH, _HAIR, _BODY)[material]
    defines = "".join(f"#define {name}\n" for name in features)
    return (
        _LIBRARY.replace("#version 330\n", "#version 330\n" + defines, 1)
        + """
void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 r = v_rest;
    vec3 col;
    uint label = 1u;
"""
        + textwrap.indent(body, "    ")
        + """    f_color = vec4(pow(clamp(col, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
    f_label = label;
}
"""
    )


# Edge anti-aliasing as games do it (FXAA, after T. Lottes): one full-screen pass that
# blends each pixel along the local luma edge. It replaces 4x multisampling, which doubled
# the rasterizer's cost on llvmpipe; labels are not filtered (they stay class ids).
POST_VERTEX = """
#version 330
out vec2 v_uv;
void main() {
    // one triangle that covers the screen
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    v_uv = 0.5 * p + 0.5;
    gl_Position = vec4(p, 0.0, 1.0);
}
"""

POST_FXAA = """
#version 330
uniform sampler2D u_src;
uniform vec2 u_texel;
in vec2 v_uv;
out vec4 f_color;

const float REDUCE_MIN = 1.0 / 128.0;
const float REDUCE_MUL = 1.0 / 8.0;
const float SPAN_MAX = 8.0;

float luma(vec3 c) { return dot(c, vec3(0.299, 0.587, 0.114)); }

vec3 tap(vec2 offset) { return texture(u_src, v_uv + offset * u_texel).rgb; }

void main() {
    vec3 m = tap(vec2(0.0));
    float l_nw = luma(tap(vec2(-1.0, -1.0)));
    float l_ne = luma(tap(vec2(1.0, -1.0)));
    float l_sw = luma(tap(vec2(-1.0, 1.0)));
    float l_se = luma(tap(vec2(1.0, 1.0)));
    float l_m = luma(m);
    float l_min = min(l_m, min(min(l_nw, l_ne), min(l_sw, l_se)));
    float l_max = max(l_m, max(max(l_nw, l_ne), max(l_sw, l_se)));
    // the edge runs across the strongest luma gradient
    vec2 dir = vec2(-((l_nw + l_ne) - (l_sw + l_se)), (l_nw + l_sw) - (l_ne + l_se));
    float reduce = max(0.25 * REDUCE_MUL * (l_nw + l_ne + l_sw + l_se), REDUCE_MIN);
    float scale = 1.0 / (min(abs(dir.x), abs(dir.y)) + reduce);
    dir = clamp(dir * scale, vec2(-SPAN_MAX), vec2(SPAN_MAX));
    vec3 near = 0.5 * (tap(dir * (1.0 / 3.0 - 0.5)) + tap(dir * (2.0 / 3.0 - 0.5)));
    vec3 wide = 0.5 * near + 0.25 * (tap(dir * -0.5) + tap(dir * 0.5));
    float l_wide = luma(wide);
    // the wide blend overshoots where the edge is a thin line: keep the near one there
    f_color = vec4((l_wide < l_min || l_wide > l_max) ? near : wide, 1.0);
}
"""


SKIN_FEATURES = ("EYES", "MOUTH", "BROWS", "BEARD", "SCALP")
_MARGIN = 0.05  # cm beyond each region's bounds in the GLSL above


def _lowest_scalp_line() -> float:
    """The lowest rest-pose y where the scalp tint of `_SKIN` can be non-zero."""
    from facefit.rig import geometry

    lowest = min(style.hairline for style in geometry.HAIRSTYLES.values() if style is not None)
    # hairline_height moves it by +-1.5 cm, the smoothstep starts 0.3 below it, and the
    # temples lift the test point by up to 2.5 cm
    return lowest - 1.5 - 0.3 - 2.5


def skin_features(rest: np.ndarray, front: np.ndarray) -> list[tuple[str, ...]]:
    """The `SKIN_FEATURES` each skin triangle needs; rest (T, 3, 3) cm, front (T, 3).

    A feature is needed where the triangle's rest-pose bounding box meets the region in
    which that part of `_SKIN` can change a pixel (with `_MARGIN` to spare).
    """
    m = _MARGIN
    x_lo, x_hi = rest[..., 0].min(1), rest[..., 0].max(1)
    y_lo, y_hi = rest[..., 1].min(1), rest[..., 1].max(1)
    ax_lo = np.where((x_lo < 0) & (x_hi > 0), 0.0, np.minimum(abs(x_lo), abs(x_hi)))
    ax_hi = np.maximum(abs(x_lo), abs(x_hi))
    front_hi = front.max(1)
    eye_x = shapes.EYE_X
    has = {
        "EYES": (y_lo < 1.6 + m) & (y_hi > -1.6 - m)
        & (ax_hi > eye_x - 2.0 - m) & (ax_lo < eye_x + 2.0 + m),
        "MOUTH": (y_lo < -5.0 + m) & (y_hi > -8.5 - m)
        & (ax_lo < shapes.MOUTH_HALF_WIDTH + 0.3 + m),
        "BROWS": (y_lo < 4.5 + m) & (y_hi > 0.3 - m) & (front_hi > 0.5 - m),
        "BEARD": (y_lo < -2.0 + m) & (front_hi > 0.2 - m),
        "SCALP": y_hi > _lowest_scalp_line() - m,
    }  # fmt: skip
    return [tuple(name for name in SKIN_FEATURES if has[name][i]) for i in range(len(rest))]
