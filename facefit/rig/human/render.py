"""Rig 3's renderer: control vector -> morphed MakeHuman head, shaded, labelled, landmarked.

The reference rig's `Renderer` supplies the offscreen EGL context, the colour + label
framebuffer, the edge filter and the read-back; this class replaces what is drawn. The
head is morphed on the CPU (one matrix product over the active targets), the proxies
(eyes, lashes, brows, hair) are placed on the morphed mesh, and the whole head is moved so
that the eyes sit at a fixed point in front of the camera: the macro targets change body
height, so a fixed camera would lose the face. The picture is then framed as a photo is
aligned, its landmarks carried onto the reference face's by a similarity (`framing`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from facefit.rig import camera
from facefit.rig.human import colors, controls, framing, shaders
from facefit.rig.human.asset import HumanAsset, Proxy, load_asset
from facefit.rig.human.color_response import PALETTE_CONTROLS, ColorResponse, color_response
from facefit.rig.human.morph import MorphModel
from facefit.rig.human.spec import human_spec
from facefit.rig.render import BACKGROUND, Renderer, RigRender
from facefit.rig.spec import RigSpec

CM_PER_UNIT = 10.0  # MakeHuman units are decimetres
EYES_AT = np.array([0.0, 0.35, 8.0])  # cm: where the eyeball centres' midpoint is drawn
# the average head is drawn 9 % larger than life so that its landmarks land near the
# reference face's before `framing` carries them onto it: the frame's similarity stays small
FRAME_SCALE = 1.09
BEARD_STYLES = {name: i for i, name in enumerate(controls.FACIAL_HAIR)}
SCALP_UNDER_HAIR = 0.85
# cm along their normals: brow cards cross the skin between its vertices, lashes the lids
LIFTED = {"brows": 0.12, "lashes": 0.03}
# Surfaces seen from outside only: their back faces are culled, a sixth of a render's time,
# and the mouth's inside no longer shows through the lip corners of a widened mouth. The
# cards (hair, brows, lashes) are seen from both sides.
CLOSED_SURFACES = ("skin", "eyes")
# cm the brows are drawn above where MakeHuman binds them: there they sit 0.20 of the eyes'
# distance above the eyes (dlib's reading), where the London photos' sit at 0.33 (sd 0.04), a
# frown on every face that even `brow_height` at its highest left at 0.22. Frontal renders
# hide the gap a raise leaves behind the brows on the receding forehead.
BROW_RAISE = 0.7
# hair_volume 1 stands each hair vertex off the head this much further than modelled (x1.8):
# real hair has more volume at the crown than MakeHuman's proxies
HAIR_LIFT = 0.8


@dataclass
class _Mesh:
    """A drawn mesh: which morphed points its render vertices take, triangles, attributes."""

    material: str
    source: str  # "skin" or a proxy key
    vertex: np.ndarray  # (R,) point index (base vertex or proxy vertex)
    tris: np.ndarray  # (T, 3) render vertices
    static: np.ndarray  # (R, 13) float32: uv 2, rest 3, a 4, b 4
    normals: sparse.csr_matrix  # (points, T): sums triangle normals onto points


@dataclass(frozen=True)
class PosedMesh:
    """A mesh as `HumanRenderer.render` draws it: positions and normals in cm (the picture's
    frame), triangles, and the per-vertex attributes its shader reads (`shaders.VERTEX`)."""

    material: str
    source: str  # "skin" or a proxy key
    positions: np.ndarray  # (R, 3) float32
    normals: np.ndarray  # (R, 3) float32
    tris: np.ndarray  # (T, 3) render vertices
    a: np.ndarray  # (R, 4) float32: in_a
    b: np.ndarray  # (R, 4) float32: in_b


def _normal_matrix(points: int, tris: np.ndarray, vertex: np.ndarray) -> sparse.csr_matrix:
    corners = vertex[tris]  # (T, 3) point ids
    rows = corners.reshape(-1)
    cols = np.repeat(np.arange(len(tris)), 3)
    return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), (points, len(tris)))


def _normals(points: np.ndarray, mesh: _Mesh) -> np.ndarray:
    p = points[mesh.vertex]
    t = mesh.tris
    face = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])  # area-weighted
    n = mesh.normals @ face
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return n[mesh.vertex]


def _root_to_tip(uv: np.ndarray, lid: np.ndarray, near: float = 0.04) -> np.ndarray:
    """Per lash vertex, 0 at the lid and 1 at the tip: the card's v across its width, rescaled
    among the vertices beside it on the same lid (its u runs along the lid)."""
    t = np.zeros(len(uv), np.float32)
    for i, (u, v) in enumerate(uv):
        beside = (np.abs(uv[:, 0] - u) < near) & (lid == lid[i])
        low, high = uv[beside, 1].min(), uv[beside, 1].max()
        t[i] = (v - low) / (high - low) if high > low else 0.0
    return t


def _brow_coordinates(proxy: Proxy) -> np.ndarray:
    """Per render vertex (t along the brow: 0 inner, 1 outer; s: 0 inside, 1 on the rim; side).

    A brow card is the brow's own outline (its texture, not shipped, fills it), so the brow
    is drawn from the card's middle out, thinning towards its rim.
    """
    u = proxy.uv[:, 0]
    out = np.zeros((len(u), 4), np.float32)
    out[:, 0] = 1.0 - (u - u.min()) / max(float(np.ptp(u)), 1e-6)  # u runs outer -> inner
    corners = proxy.vertex[proxy.tris]
    edges = np.sort(np.concatenate([corners[:, [0, 1]], corners[:, [1, 2]], corners[:, [2, 0]]]), 1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    rim = np.zeros(int(proxy.vertex.max()) + 1, bool)
    rim[uniq[count == 1].reshape(-1)] = True
    out[:, 1] = rim[proxy.vertex]
    return out


class HumanRenderer(Renderer):
    """Renders parameter vectors of rig 3; each instance owns a GL context."""

    palette_controls = PALETTE_CONTROLS

    def __init__(
        self, size: int = 512, spec: RigSpec | None = None, yaw_degrees: float = 0.0
    ) -> None:
        self.size = int(size)
        self.spec = spec or human_spec()
        # the head seen from this far round (the likeness bench's second view); the frame
        # and the landmarks stay the frontal ones
        self.yaw_degrees = float(yaw_degrees)
        self._ctx = None
        self._exact: tuple | None = None  # float colour targets (`render_unfiltered`)
        self.asset: HumanAsset = load_asset()
        self.morph = MorphModel(self.asset)
        # None while `tools/build_human_rig.py --landmarks` builds them: the head unframed
        self._landmark_vertex = self.asset.extras.get("lm_vertex")
        mean = self.spec.mean_vector()
        self._mean_points = self._points(self._values(mean))
        self._meshes: dict[str, _Mesh] = {}
        self._shape = [n for n, _, _ in controls.MACROS] + [m.name for m in controls.MORPHS]
        # The last pose: its shape controls, morphed points, each drawn mesh's vertex data (a
        # hair mesh's by its volume), the frame's similarity (`framing`) and the landmarks
        # it frames, in [0, 1]
        self._pose: tuple[tuple, dict, dict, np.ndarray, np.ndarray] | None = None

    # --- geometry -----------------------------------------------------------------------
    def _values(self, vec: np.ndarray) -> dict[str, float]:
        return {c.name: float(vec[i]) for i, c in enumerate(self.spec.continuous)}

    def _points(self, values: dict[str, float]) -> dict[str, np.ndarray]:
        """Morphed, framed points in cm: "skin" (base vertices) and each proxy's vertices."""
        base = self.morph.vertices(values)
        eyes = self.asset.proxies["eyes"].place(base)
        centre = eyes.mean(axis=0)
        k = CM_PER_UNIT * FRAME_SCALE
        return {"skin": (base - centre) * k + EYES_AT, "eyes": (eyes - centre) * k + EYES_AT}

    def _posed(self, values: dict[str, float]) -> tuple[dict, dict, np.ndarray, np.ndarray]:
        """(morphed points, vertex data by mesh, frame transform, framed landmarks) of these
        shape controls, reused while they are unchanged: a fit redraws one shape many times
        with only colours, a discrete option or the hair's volume changed (colour matching,
        outlines, option checks), and the morph and the normals are a third of a small
        render's time."""
        shape = tuple(values[name] for name in self._shape)
        if self._pose is None or self._pose[0] != shape:
            points = self._points(values)
            if self._landmark_vertex is None:
                unframed, frame = np.zeros((68, 2)), np.eye(2, 3)
            else:
                unframed = camera.project(points["skin"][self._landmark_vertex], 1)
                frame = framing.frame_transform(unframed)
            self._pose = (shape, points, {}, frame, framing.framed(unframed, frame))
        return self._pose[1:]

    def _mesh_data(self, points: dict[str, np.ndarray], key: str, lift: float) -> np.ndarray:
        """(R, 6) float32 positions and normals of a drawn mesh's render vertices; `lift`
        scales a hair proxy's offsets from the head (`hair_volume`)."""
        mesh = self._mesh(key)
        if key == "skin":
            pts = points["skin"]
        else:
            pts = self._proxy_points(points, key, lift if mesh.material == "hair" else 1.0)
        data = np.empty((len(mesh.vertex), 6), np.float32)
        data[:, 3:] = _normals(pts, mesh)
        data[:, :3] = pts[mesh.vertex]
        if mesh.material in LIFTED:  # lie on the skin: keep them in front of it
            data[:, :3] += data[:, 3:] * LIFTED[mesh.material]
        return data

    def _proxy_points(self, points: dict, key: str, lift: float = 1.0) -> np.ndarray:
        slot = key if lift == 1.0 else (key, lift)  # a lifted hair beside the modelled one
        if slot not in points:
            points[slot] = self.asset.proxies[key].place(points["skin"], lift)
            if key.startswith("eyebrows/"):
                points[slot][:, 1] += BROW_RAISE
        return points[slot]

    def _mesh(self, key: str) -> _Mesh:
        if key in self._meshes:
            return self._meshes[key]
        asset = self.asset
        mean = self._mean_points
        if key == "skin":
            vertex, tris, uv = asset.skin_vertex, asset.skin_tris, asset.skin_uv
            regions = asset.extras.get("region_skin")
            regions = (
                np.zeros((len(asset.rest), 8), np.float32) if regions is None else regions
            ).astype(np.float32)
            a, b = regions[vertex, :4], regions[vertex, 4:8].copy()
            b[:, :3] *= 1.0 - np.clip(2.0 * a[:, :1], 0.0, 1.0)  # no beard on the nose
            material, points = "skin", mean["skin"]
        else:
            proxy: Proxy = asset.proxies[key]
            vertex, tris, uv = proxy.vertex, proxy.tris, proxy.uv
            points = self._proxy_points(mean, key)
            p = points[vertex]
            b = np.zeros((len(vertex), 4), np.float32)
            if key == "eyes":
                material = "eyes"
                a = np.zeros((len(vertex), 4), np.float32)
                for side in (-1.0, 1.0):
                    sel = np.sign(points[:, 0]) == side
                    centre = points[sel].mean(axis=0)
                    radius = np.linalg.norm(points[sel] - centre, axis=1).max()
                    rv = np.sign(p[:, 0]) == side
                    a[rv, :3] = (p[rv] - centre) / radius
                    a[rv, 3] = side
            elif key == "eyelashes":
                material = "lashes"
                a = np.zeros((len(vertex), 4), np.float32)
                a[:, 3] = np.sign(p[:, 0])
                eye_y = mean["eyes"][:, 1].mean()
                a[:, 0] = p[:, 1] > eye_y  # upper lashes (the lower ones are sparse)
                a[:, 1] = _root_to_tip(uv, 2 * a[:, 3] + a[:, 0])  # by lid: side and upper
            elif key.startswith("eyebrows/"):
                material = "brows"
                a = _brow_coordinates(proxy)
                a[:, 2] = np.sign(p[:, 0])
            else:
                material = "hair"
                a = np.zeros((len(vertex), 4), np.float32)
                lift = np.linalg.norm(proxy.bind_d, axis=1)[vertex]
                a[:, 0] = np.clip(lift / (np.percentile(lift, 90) + 1e-6), 0.0, 1.0)
        static = np.concatenate([uv, points[vertex], a, b], axis=1).astype(np.float32)
        mesh = _Mesh(
            material=material,
            source=key,
            vertex=vertex,
            tris=tris,
            static=static,
            normals=_normal_matrix(len(points), tris, vertex),
        )
        self._meshes[key] = mesh
        return mesh

    # --- GL ----------------------------------------------------------------------------
    def _program(self, material: str):
        if material not in self._progs:
            prog = self._ctx.program(
                vertex_shader=shaders.VERTEX, fragment_shader=shaders.fragment(material)
            )
            self._set_program_uniforms({"u_cam": camera.eye_position()}, [prog])
            self._progs[material] = prog
        return self._progs[material]

    def _vao(self, mesh: _Mesh):
        key = mesh.source
        if key not in self._vaos:
            ctx = self._ctx
            dyn = ctx.buffer(reserve=len(mesh.vertex) * 24)
            static = ctx.buffer(mesh.static.tobytes())
            ibo = ctx.buffer(mesh.tris.astype(np.uint32).tobytes())
            vao = ctx.vertex_array(
                self._program(mesh.material),
                [
                    (dyn, "3f 3f", "in_pos", "in_normal"),
                    (static, "2f 3f 4f 4f", "in_uv", "in_rest", "in_a", "in_b"),
                ],
                index_buffer=ibo,
                index_element_size=4,
                skip_errors=True,
            )
            self._vaos[key] = (vao, dyn)
        return self._vaos[key]

    def _uniforms(self, values: dict[str, float], choice: dict[str, str]) -> dict:
        style = choice["hairstyle"]
        uniforms: dict = dict(colors.palette(values, bald=style == "bald"))
        uniforms["u_brow_density"] = values["brow_density"]
        uniforms["u_scalp"] = {"bald": 0.0, "buzz": 0.75}.get(style, SCALP_UNDER_HAIR)
        uniforms["u_hairline"] = 0.45 if style == "receding" else 0.0
        uniforms["u_curled"] = float(style in controls.CURLED)
        uniforms["u_beard"] = BEARD_STYLES[choice["facial_hair"]]
        uniforms["u_beard_density"] = values["facial_hair_density"]
        return uniforms

    def shader_uniforms(self, vec: np.ndarray) -> dict:
        """The colours (linear RGB) and style uniforms `render` draws `vec` with."""
        vec = self.spec.validate_vector(vec)
        return self._uniforms(self._values(vec), self.spec.options(vec))

    def _drawn(self, choice: dict[str, str]) -> list[str]:
        style = choice["hairstyle"]
        proxy = controls.HAIRSTYLE_PROXY.get(style, style)
        hair = [f"hair/{proxy}"] if f"hair/{proxy}" in self.asset.proxies else []
        return hair + ["skin", "eyes", "eyelashes", f"eyebrows/{choice['eyebrow_style']}"]

    def _drawn_data(self, values: dict[str, float], choice: dict[str, str]):
        """(morphed points, [(mesh, its (R, 6) vertex data)] in drawing order, frame transform,
        framed landmarks)."""
        points, posed, frame, landmarks = self._posed(values)
        lift = 1.0 + HAIR_LIFT * values["hair_volume"]
        drawn = []
        for key in self._drawn(choice):
            mesh = self._mesh(key)
            slot = (key, lift) if mesh.material == "hair" else key
            if slot not in posed:
                posed[slot] = self._mesh_data(points, key, lift)
            drawn.append((mesh, posed[slot]))
        return points, drawn, frame, landmarks

    def posed_meshes(self, vec: np.ndarray) -> list[PosedMesh]:
        """The meshes `render` draws for `vec`, posed on the CPU (no GL context is made) and
        moved in space so that a frontal view frames them as the render does."""
        vec = self.spec.validate_vector(vec)
        choice = self.spec.options(vec)
        points, drawn, frame, _ = self._drawn_data(self._values(vec), choice)
        depth = float(points["skin"][self._landmark_vertex, 2].mean())
        meshes = []
        for m, d in drawn:
            positions, normals = framing.framed_in_space(d[:, :3], d[:, 3:], frame, depth)
            a, b = m.static[:, 5:9], m.static[:, 9:13]
            meshes.append(PosedMesh(m.material, m.source, positions, normals, m.tris, a, b))
        return meshes

    def _edge_filter(self) -> None:
        """The base filter over the whole frame, with no read-back: rig 3's head and
        shoulders span the frame's width, so finding the drawn box would cost more than
        filtering the margin does (the filter leaves a pixel inside plain background as it is)."""
        self._filter_pass()

    def color_response(self, vec: np.ndarray) -> ColorResponse:
        """`vec`'s render at any colour controls, for six draws (`color_response`)."""
        return color_response(self, vec)

    def render_unfiltered(self, vec: np.ndarray, colors: dict) -> RigRender:
        """`vec` drawn with the colour uniforms `colors` (linear RGB by uniform name, replacing
        the palette's), without the edge filter and unrounded: what `color_response` reads.
        Its image is float32 in [0, 1], as the programs wrote it."""
        vec = self.spec.validate_vector(vec)
        with self._context():
            return self._render(vec, colors)

    def _exact_targets(self) -> tuple:
        """(colour and labels, colour alone) framebuffers with a float colour target: the
        programs' output before it is rounded to 8 bits."""
        if self._exact is None:
            ctx, size = self._ctx, (self.size, self.size)
            color, depth = ctx.texture(size, 4, dtype="f4"), ctx.depth_renderbuffer(size)
            scene = ctx.framebuffer(
                color_attachments=[color, self._label_buf], depth_attachment=depth
            )
            self._exact = (
                scene,
                ctx.framebuffer(color_attachments=[color], depth_attachment=depth),
            )
        return self._exact

    def _render(self, vec: np.ndarray, colors: dict | None = None) -> RigRender:
        values = self._values(vec)
        choice = self.spec.options(vec)
        ctx = self._ctx
        _, drawn, frame, landmarks = self._drawn_data(values, choice)
        for material in shaders.MATERIALS:  # uniforms go to programs that exist
            self._program(material)
        vp = framing.clip_matrix(frame) @ camera.view_projection(self.yaw_degrees)
        uniforms = self._uniforms(values, choice) | (colors or {})
        self._set_program_uniforms({**uniforms, "u_vp": vp.T.copy()})
        scene, color_only = (
            (self._scene_fbo, self._color_only) if colors is None else self._exact_targets()
        )
        self._label_only.clear(0.0, 0.0, 0.0, 0.0)
        color_only.clear(*BACKGROUND, 0.0)
        ctx.enable(ctx.DEPTH_TEST)
        scene.use()
        for mesh, data in drawn:
            vao, dyn = self._vao(mesh)
            dyn.write(data.tobytes())
            if mesh.material in CLOSED_SURFACES:
                ctx.enable(ctx.CULL_FACE)
            vao.render()
            ctx.disable(ctx.CULL_FACE)
        ctx.disable(ctx.DEPTH_TEST)
        if colors is None:
            self._edge_filter()
            image = self._read_color()
        else:
            raw = scene.read(components=3, alignment=1, attachment=0, dtype="f4")
            image = np.frombuffer(raw, np.float32).reshape(self.size, self.size, 3)[::-1].copy()
        labels = self._read_labels()
        landmarks68 = (landmarks * self.size).astype(np.float32)
        return RigRender(image=image, labels=labels, landmarks68=landmarks68)
