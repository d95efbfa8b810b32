"""GLSL of the human rig: skin, eyes, eyelashes, brows and hair, each with its label.

The neck below the jaw is labelled background, as in the reference rig.

Every program writes colour and class id from the same fragment (two render targets), like
the reference rig's. Materials are procedural (MakeHuman's textures are not shipped): skin
regions and beard zones come as per-vertex weights from the asset, brows and hair as strand
patterns in their proxies' own coordinates.
"""

from __future__ import annotations

from facefit.rig.shaders import NOISE

VERTEX = """
#version 330
uniform mat4 u_vp;
in vec3 in_pos;
in vec3 in_normal;
in vec2 in_uv;
in vec3 in_rest;
in vec4 in_a;
in vec4 in_b;
out vec3 v_pos;
out vec3 v_normal;
out vec2 v_uv;
out vec3 v_rest;
out vec4 v_a;
out vec4 v_b;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_uv = in_uv;
    v_rest = in_rest;
    v_a = in_a;
    v_b = in_b;
    gl_Position = u_vp * vec4(in_pos, 1.0);
}
"""

_LIBRARY = (
    """
#version 330
in vec3 v_pos;
in vec3 v_normal;
in vec2 v_uv;
in vec3 v_rest;
in vec4 v_a;
in vec4 v_b;
uniform vec3 u_cam;
uniform vec3 u_skin;
uniform vec3 u_lip;
uniform vec3 u_hair;
uniform vec3 u_brow;
uniform vec3 u_iris;
uniform float u_brow_density;
uniform float u_scalp;       // 0 bald, >0 scalp tinted with hair (buzz, under a hairstyle)
uniform float u_hairline;    // cm: raises the scalp's front edge (receding)
uniform float u_curled;      // 1: the hair is drawn as coils (controls.CURLED)
uniform int u_beard;
uniform float u_beard_density;
uniform float u_age;
layout(location = 0) out vec4 f_color;
layout(location = 1) out uint f_label;
"""
    + NOISE
    + """
// soft frontal studio light: a large key just above the camera, a fill, a sky ambient
vec3 light(vec3 n, vec3 base, float spec_k, float shin, float wrap) {
    vec3 v = normalize(u_cam - v_pos);
    vec3 l1 = normalize(vec3(-0.2, 0.35, 1.0));
    vec3 l2 = normalize(vec3(0.5, 0.0, 0.85));
    float d1 = dot(n, l1);
    vec3 diff = vec3(0.78 * max((d1 + wrap) / (1.0 + wrap), 0.0));
    diff += 0.32 * max((dot(n, l2) + wrap) / (1.0 + wrap), 0.0);
    float hemi = 0.5 + 0.5 * n.y;
    vec3 amb = mix(vec3(0.17), vec3(0.27), hemi);
    vec3 h = normalize(l1 + v);
    float spec = spec_k * pow(max(dot(n, h), 0.0), shin);
    return base * (diff + amb) + vec3(spec);
}
"""
)
# skin: v_a = (nose, upper lip, lower lip, scalp) weights, v_b = (moustache, goatee, jaw, neck)
_SKIN = """
if (!gl_FrontFacing) {  // the inside of the mouth, seen between the lips
    col = vec3(0.18, 0.05, 0.05);
    label = 9u;
} else {
    vec3 r = v_rest;
    float grain = vnoise(r.xy * 9.0) * 0.5 + vnoise(r.xy * 23.0) * 0.5;
    vec3 skin = u_skin * (0.96 + 0.08 * grain);
    float lip = clamp(v_a.y + v_a.z, 0.0, 1.0);
    float lip_soft = smoothstep(0.25, 0.75, lip);
    skin = mix(skin, u_lip, lip_soft);
    // scalp under hair / buzz cut: hair colour with a fine stipple
    float scalp = smoothstep(0.2, 0.8, v_a.w - u_hairline);
    if (scalp * u_scalp > 0.0) {  // noise only where it shows: llvmpipe pays per pixel
        float stipple = vnoise(r.xy * 40.0 + r.z * 7.0);
        skin = mix(skin, u_hair * (0.7 + 0.4 * stipple), scalp * u_scalp);
    }
    // facial hair: zones per style, density by the control, stubble as a fine stipple
    float zone = 0.0;
    if (u_beard == 1 || u_beard == 4) zone = max(max(v_b.x, v_b.y), v_b.z);
    else if (u_beard == 2) zone = v_b.x;
    else if (u_beard == 3) zone = max(v_b.x, v_b.y);
    zone *= 1.0 - lip_soft;
    float solid = 0.0;
    if (zone > 0.0) {
        float hairs = vnoise(r.xy * 55.0);
        float cover = u_beard == 1 ? zone * (0.25 + 0.35 * u_beard_density) * (0.6 + 0.8 * hairs)
            : smoothstep(0.15, 0.85, zone + 0.35 * (vnoise(r.xy * 6.0) - 0.5))
              * (0.45 + 0.5 * u_beard_density) * (0.7 + 0.5 * hairs);
        skin = mix(skin, u_hair * 0.8, clamp(cover, 0.0, 0.95));
        if (u_beard > 1) solid = smoothstep(0.2, 0.6, zone) * (0.45 + 0.5 * u_beard_density);
    }
    float shine = 0.06 + 0.12 * lip_soft;
    col = light(n, skin, shine, 28.0, 0.45);
    label = 1u;
    if (solid > 0.55) label = 2u;  // dense beards are hair, stubble is skin
    else if (v_a.y > 0.5) label = 8u;
    else if (v_a.z > 0.5) label = 10u;
    else if (v_a.x > 0.5) label = 7u;
    if (scalp * u_scalp > 0.5) label = 2u;
    if (v_b.w > 0.5) label = 0u;
}
"""

# eyes: v_a.xyz = direction from the eyeball centre (unit, rest pose), v_a.w = side
_EYE = """
vec3 d = v_a.xyz;
float rr = length(d.xy);
float iris_r = 0.42;
float ang = atan(d.y, d.x);
vec3 sclera = vec3(0.88, 0.85, 0.82) * (1.0 - 0.25 * smoothstep(0.45, 0.9, rr));
float streak = 0.75 + 0.5 * vnoise(vec2(ang * 12.0, rr * 30.0));
vec3 iris = u_iris * streak * mix(1.2, 0.7, smoothstep(0.1, 1.0, rr / iris_r));
iris = mix(iris, vec3(0.03), smoothstep(0.85, 1.0, rr / iris_r));
float pupil = 1.0 - smoothstep(0.15, 0.18, rr);
vec3 base = mix(iris, vec3(0.015), pupil);
base = d.z > 0.0 ? mix(sclera, base, smoothstep(iris_r + 0.02, iris_r - 0.02, rr)) : sclera;
base *= 1.0 - 0.35 * smoothstep(0.1, 0.5, d.y);  // the upper lid's shadow
col = light(n, base, 0.9, 90.0, 0.0);
label = v_a.w < 0.0 ? 5u : 6u;
"""

# lashes: v_a.x upper lash (the lower ones barely show), v_a.y 0 at the lid to 1 at the tip.
# Fine strands that thin out towards their tips: a solid card reads as a band over the eye.
_LASHES = """
float lash = vnoise(vec2(v_uv.x * 300.0, 0.5));
if (v_a.x < 0.5 || lash < 0.15 + 0.7 * v_a.y) discard;
col = vec3(0.03, 0.025, 0.02);
label = v_a.w < 0.0 ? 5u : 6u;
"""

# brows: v_a = (t along the brow: 0 inner, 1 outer; s: 0 inside the card, 1 on its rim; side).
# Density thins a brow and lets the skin show through its hairs (a sparse brow is a lighter
# one), rather than cutting it into hatching: photos' brows are continuous at every density.
_BROW = """
float t = v_a.x;
float s = v_a.y;
float half_w = 0.75 * (1.0 - 0.3 * t) * (0.75 + 0.35 * u_brow_density);
float ends = smoothstep(0.0, 0.06, t) * (1.0 - smoothstep(0.9, 1.0, t));
float body = (1.0 - smoothstep(half_w * 0.5, half_w, s)) * ends;
// hairs lie along the brow, rising at its inner end: fine across it, long along it
float hairs = vnoise(vec2(v_rest.x * 2.5, v_rest.y * 22.0 + 6.0 * (1.0 - t) * abs(v_rest.x)));
if (body * (0.5 + 0.9 * hairs) < 0.35) discard;
float opacity = (0.4 + 0.6 * u_brow_density) * (0.75 + 0.35 * hairs);
vec3 albedo = mix(u_skin, u_brow * (0.8 + 0.4 * hairs), clamp(opacity, 0.0, 1.0));
col = light(n, albedo, 0.02, 10.0, 0.4);
label = v_a.z < 0.0 ? 3u : 4u;
"""

# hair: strands run along the cards' v texture axis; Kajiya-Kay highlight along them. Curled
# hair (u_curled: the afro, long curls) has no strand direction to show: matte coils of
# three noise octaves on the head's rest position, mapped from the three axes by the
# normal, and a fuzzy outline where the surface turns away.
_HAIR = """
if (u_curled > 0.5) {
    vec3 w = abs(n) / (abs(n.x) + abs(n.y) + abs(n.z));
    float coil = 0.0;
    float amp = 0.55;
    float freq = 5.0;
    for (int k = 0; k < 3; k++) {
        coil += amp * (w.z * vnoise(v_rest.xy * freq + 3.1 * float(k))
                     + w.x * vnoise(v_rest.zy * freq + 5.7 * float(k))
                     + w.y * vnoise(v_rest.xz * freq + 1.3 * float(k)));
        amp *= 0.55;
        freq *= 2.3;
    }
    coil /= 0.55 + 0.3025 + 0.166;
    vec3 v = normalize(u_cam - v_pos);
    float rim = 1.0 - abs(dot(n, v));
    if (rim > 0.6 && coil < 2.0 * (rim - 0.6) + 0.2) discard;
    float lit = smoothstep(0.3, 0.7, coil);  // coil tops catch the light, the gaps do not
    vec3 base = u_hair * (0.55 + 0.6 * lit);
    // soft contrast and no white specular: speckled dark coils read as grey hair
    col = light(n, base, 0.0, 1.0, 0.5) * (0.7 + 0.3 * lit) * (0.75 + 0.25 * v_a.x);
} else {
vec3 dpx = dFdx(v_pos);
vec3 dpy = dFdy(v_pos);
vec2 dux = dFdx(v_uv);
vec2 duy = dFdy(v_uv);
float det = dux.x * duy.y - dux.y * duy.x;
vec3 t = normalize((dpx * duy.x - dpy * dux.x) / (abs(det) > 1e-12 ? det : 1e-12) + vec3(0.0, -1e-4, 0.0));
float strand = vnoise(vec2(v_uv.x * 260.0, v_uv.y * 6.0)) * 0.6 + vnoise(vec2(v_uv.x * 90.0, v_uv.y * 3.0)) * 0.4;
if (strand < 0.18) discard;
vec3 base = u_hair * (0.55 + 0.75 * strand);
vec3 v = normalize(u_cam - v_pos);
vec3 l1 = normalize(vec3(-0.2, 0.45, 1.0));
vec3 h = normalize(l1 + v);
float th = dot(t, h);
float kk = pow(sqrt(max(1.0 - th * th, 0.0)), 80.0);
col = light(n, base, 0.0, 1.0, 0.3) * (0.75 + 0.25 * v_a.x) + kk * 0.25 * mix(vec3(1.0), u_hair, 0.6) * strand;
}
label = 2u;
"""

MATERIALS = {"skin": _SKIN, "eyes": _EYE, "lashes": _LASHES, "brows": _BROW, "hair": _HAIR}


def fragment(material: str) -> str:
    """Fragment shader source of one material of `MATERIALS`."""
    return (
        _LIBRARY
        + """
void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 col;
    uint label = 1u;
"""
        + "\n".join("    " + line for line in MATERIALS[material].strip().splitlines())
        + """
    f_color = vec4(pow(clamp(col, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
    f_label = label;
}
"""
    )
