"""Build `facefit/rig/assets/human.npz`, the human rig's geometry, from MakeHuman's CC0 assets.

    .venv/bin/python tools/build_human_rig.py [--src ../shared/data/makehuman]
    .venv/bin/python tools/build_human_rig.py --landmarks   # second pass, needs the renderer
    .venv/bin/python tools/build_human_rig.py --contours    # lids, jaw and brows again only

The first pass reads the base mesh, the face and macro morph targets and the proxies (hair,
eyebrows, eyes, eyelashes), keeps the head and neck (everything a frontal portrait shows),
and stores the morphs as sparse float16 deltas. The second pass renders the average head,
runs dlib's 68-point predictor on it, fixes each landmark to the nearest visible vertex (the
lids', the jaw's and the brows' to those that follow dlib's points as their controls move)
and derives the label regions (nose, lips) from those landmarks. Nothing reads `--src` at
run time.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger("build_human_rig")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "facefit" / "rig" / "assets" / "human.npz"
NECK_CUT_Y = 5.45  # dm: the base mesh's neck below the jaw; shoulders start lower
FACE_GROUPS = ("head", "forehead", "eyebrows", "neck", "eyes", "nose", "mouth", "ears", "chin",
               "cheek")  # fmt: skip
RACES, SEXES, AGES = (
    ("african", "asian", "caucasian"),
    ("female", "male"),
    ("child", "young", "old"),
)
WEIGHTS = ("minweight", "averageweight", "maxweight")
HAIR = ("short01", "short02", "short03", "short04", "bob01", "bob02", "long01", "ponytail01",
        "braid01", "afro01")  # fmt: skip
EYEBROWS = tuple(f"eyebrow{i:03d}" for i in range(1, 13))


def read_obj(path: Path) -> dict[str, np.ndarray]:
    """Vertices, UVs and faces (as per-corner vertex and UV indices, grouped by `g`)."""
    verts, uvs, faces, groups = [], [], [], []
    group = ""
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            group = line[2:].strip()
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            vi = [int(c[0]) - 1 for c in corners]
            ti = [int(c[1]) - 1 if len(c) > 1 and c[1] else int(c[0]) - 1 for c in corners]
            for k in range(1, len(vi) - 1):  # fan: quads -> two triangles
                faces.append((vi[0], vi[k], vi[k + 1], ti[0], ti[k], ti[k + 1]))
                groups.append(group)
    return {
        "verts": np.asarray(verts, np.float64),
        "uvs": np.asarray(uvs or [[0.0, 0.0]], np.float64),
        "faces": np.asarray(faces, np.int64).reshape(-1, 6),
        "groups": np.asarray(groups),
    }


def read_target(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A `.target` file: (indices (K,), deltas (K, 3))."""
    rows = [ln.split() for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    idx = np.array([int(r[0]) for r in rows], np.int64)
    delta = np.array([[float(x) for x in r[1:4]] for r in rows], np.float64)
    return idx, delta.reshape(-1, 3)


def read_mhclo(path: Path) -> dict[str, np.ndarray]:
    """A proxy binding: per proxy vertex 3 base vertices, weights and a scaled offset."""
    scale = {}
    idx, w, d = [], [], []
    in_verts = False
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] in ("x_scale", "y_scale", "z_scale"):
            scale[parts[0]] = (int(parts[1]), int(parts[2]), float(parts[3]))
        elif parts[0] == "verts":
            in_verts = True
        elif in_verts and re.match(r"^-?\d", parts[0]) and len(parts) in (1, 9):
            if len(parts) == 1:  # bound exactly to one vertex
                idx.append([int(parts[0])] * 3)
                w.append([1.0, 0.0, 0.0])
                d.append([0.0, 0.0, 0.0])
            else:
                idx.append([int(x) for x in parts[:3]])
                w.append([float(x) for x in parts[3:6]])
                d.append([float(x) for x in parts[6:9]])
        elif in_verts and idx:  # the first keyword after the block ends it
            in_verts = False
    return {
        "idx": np.asarray(idx, np.int64),
        "w": np.asarray(w, np.float64),
        "d": np.asarray(d, np.float64),
        "scale": np.array([scale[k] for k in ("x_scale", "y_scale", "z_scale")], np.float64),
    }


def unroll(obj: dict[str, np.ndarray], faces: np.ndarray) -> tuple[np.ndarray, ...]:
    """Render vertices = unique (vertex, uv) pairs of `faces`: (vertex ids, uvs, triangles)."""
    pairs = np.stack([faces[:, :3].reshape(-1), faces[:, 3:].reshape(-1)], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return uniq[:, 0], obj["uvs"][uniq[:, 1]], inverse.reshape(-1, 3)


def build(src: Path) -> dict[str, np.ndarray]:
    base = read_obj(src / "makehuman/data/3dobjs/base.obj")
    v = base["verts"]
    body = base["faces"][base["groups"] == "body"]
    keep_face = (v[body[:, :3], 1] > NECK_CUT_Y).all(axis=1)
    head_faces = body[keep_face]
    proxies = {f"hair/{n}": src / f"base/hair/{n}/{n}" for n in HAIR}
    proxies |= {f"eyebrows/{n}": src / f"base/eyebrows/{n}/{n}" for n in EYEBROWS}
    proxies["eyes"] = src / "makehuman/data/eyes/high-poly/high-poly"
    proxies["eyelashes"] = src / "base/eyelashes/eyelashes01/eyelashes01"
    bindings = {k: read_mhclo(p.with_suffix(".mhclo")) for k, p in proxies.items()}
    objs = {k: read_obj(p.with_suffix(".obj")) for k, p in proxies.items()}

    # the base vertices anything here reads: the head's faces, proxy bindings, scale refs
    used = {int(i) for i in head_faces[:, :3].reshape(-1)}
    for b in bindings.values():
        used |= {int(i) for i in b["idx"].reshape(-1)}
        used |= {int(i) for i in b["scale"][:, :2].reshape(-1)}
    kept = np.array(sorted(used), np.int64)
    remap = np.full(len(v), -1, np.int64)
    remap[kept] = np.arange(len(kept))
    out: dict[str, np.ndarray] = {"rest": v[kept].astype(np.float32)}

    vid, uv, tris = unroll(base, head_faces)
    out["skin_vertex"] = remap[vid].astype(np.int32)
    out["skin_uv"] = uv.astype(np.float32)
    out["skin_tris"] = tris.astype(np.int32)

    for key, b in bindings.items():
        obj = objs[key]
        if len(obj["verts"]) != len(b["idx"]):
            raise SystemExit(f"{key}: {len(obj['verts'])} vertices but {len(b['idx'])} bindings")
        pid, puv, ptris = unroll(obj, obj["faces"])
        scale = b["scale"].copy()
        scale[:, :2] = remap[scale[:, :2].astype(np.int64)]
        out[f"{key}/bind_idx"] = remap[b["idx"]].astype(np.int32)
        out[f"{key}/bind_w"] = b["w"].astype(np.float32)
        out[f"{key}/bind_d"] = b["d"].astype(np.float32)
        out[f"{key}/scale"] = scale.astype(np.float32)
        out[f"{key}/vertex"] = pid.astype(np.int32)
        out[f"{key}/uv"] = puv.astype(np.float32)
        out[f"{key}/tris"] = ptris.astype(np.int32)

    # morph targets, sparse over the kept vertices: name -> (indices, float16 deltas)
    names, starts, indices, deltas = [], [0], [], []
    tdir = src / "makehuman/data/targets"
    files = [p for g in FACE_GROUPS for p in sorted((tdir / g).glob("*.target"))]
    for race in RACES:
        for sex in SEXES:
            files += [tdir / f"macrodetails/{race}-{sex}-{age}.target" for age in AGES]
    for sex in SEXES:
        for age in AGES:
            files += [
                tdir / f"macrodetails/universal-{sex}-{age}-averagemuscle-{w}.target"
                for w in WEIGHTS
            ]
    for path in files:
        idx, delta = read_target(path)
        sel = remap[idx] >= 0
        moved = np.abs(delta[sel]).max(axis=1) > 1e-5
        names.append(path.stem)
        indices.append(remap[idx[sel][moved]].astype(np.uint16))
        deltas.append(delta[sel][moved].astype(np.float16))
        starts.append(starts[-1] + int(moved.sum()))
    out["target_names"] = np.asarray(names)
    out["target_starts"] = np.asarray(starts, np.int64)
    out["target_idx"] = np.concatenate(indices)
    out["target_delta"] = np.concatenate(deltas)
    log.info("%d vertices, %d skin triangles, %d targets", len(kept), len(tris), len(names))
    return out


def landmark_pass() -> None:
    """Fix the 68 landmarks to vertices and derive label regions, from a render of the mean."""
    from facefit.rig.human.landmark_build import build_landmarks

    # render the head as the first pass left it (no regions yet): the result then depends
    # on the geometry and the shaders only, not on an earlier run of this pass
    data = {k: v for k, v in np.load(OUT).items() if not k.startswith(("lm_", "region_"))}
    np.savez_compressed(OUT, **data)
    data.update(build_landmarks())
    np.savez_compressed(OUT, **data)


def contour_pass() -> None:
    """Choose the lids', the jaw line's and the brows' landmark vertices again on the built
    head (`landmark_build.with_contours`), the rest of the landmark pass kept."""
    from facefit.rig.human.asset import load_asset
    from facefit.rig.human.landmark_build import with_contours
    from facefit.rig.human.render import HumanRenderer

    data = dict(np.load(OUT).items())
    for _ in range(2):  # the framing follows the landmarks: once more on the new ones
        load_asset.cache_clear()
        renderer = HumanRenderer(512)
        vec = renderer.spec.encode({"discrete": {"hairstyle": "bald"}})
        data["lm_vertex"] = with_contours(renderer, vec, data["lm_vertex"])
        np.savez_compressed(OUT, **data)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT.parent / "shared/data/makehuman")
    parser.add_argument("--landmarks", action="store_true", help="only the landmark pass")
    parser.add_argument(
        "--contours",
        action="store_true",
        help="only the lids', jaw's and brows' landmarks, on the built head",
    )
    args = parser.parse_args()
    if args.contours:
        contour_pass()
    elif not args.landmarks:
        data = build(args.src)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(OUT, **data)
    if not args.contours:
        landmark_pass()
    log.info("wrote %s (%.1f MB)", OUT, OUT.stat().st_size / 1e6)
    print(json.dumps({"out": str(OUT.relative_to(ROOT)), "bytes": OUT.stat().st_size}))


if __name__ == "__main__":
    main()
