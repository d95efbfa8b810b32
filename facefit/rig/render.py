"""The reference game client: parameter vector -> rendered face, label map and 68 landmarks.

The meshes are deformed on the CPU (numpy), then rasterized with OpenGL 3.3 through an
offscreen EGL context (Mesa llvmpipe where there is no GPU), one fragment program per
material. Colour and labels come from one pass with two render targets, one sample per
pixel, so labels are class indices; a full-screen edge filter (FXAA) then smooths the
colour image's edges.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facefit.errors import FacefitError
from facefit.rig import bones, camera, colors, geometry, landmarks, shaders, shapes
from facefit.rig.spec import RigSpec, load_reference_spec

log = logging.getLogger(__name__)

BACKGROUND = (0.86, 0.86, 0.85)  # light studio grey, as in the London photos
BEARD_STYLES = {"none": 0, "stubble": 1, "moustache": 2, "goatee": 3, "full_beard": 4}


@dataclass(frozen=True)
class RigRender:
    """One render: image (H, W, 3) uint8 RGB, labels (H, W) uint8 class ids, landmarks68 (68, 2)."""

    image: np.ndarray
    labels: np.ndarray
    landmarks68: np.ndarray


@dataclass
class _Part:
    """Static data of a set of grid meshes drawn together."""

    meshes: tuple[geometry.GridMesh, ...]
    rest: np.ndarray  # (N, 3)
    static: np.ndarray  # (N, 5): rest xyz, attr xy
    indices: np.ndarray  # (T*3,)
    table: bones.BoneTable
    offsets: tuple[int, ...]
    draws: tuple[tuple[ProgramKey, int, int], ...]  # (program, first index, index count)
    mouth_unit: np.ndarray  # (N,) float64: vertical lip offsets per cm of mouth opening


ProgramKey = tuple[int, tuple[str, ...]]  # (material, skin features)


def _program_groups(mesh: geometry.GridMesh) -> list[tuple[ProgramKey, np.ndarray]]:
    """The mesh's triangles (its own vertex indices) grouped by the program that draws them.

    Skin triangles are grouped by the shader features their rest-pose region needs.
    """
    material = geometry.MATERIALS[mesh.part]
    tris = mesh.triangles()
    if mesh.part != geometry.HEAD:
        return [((material, ()), tris)]
    rest = mesh.rest.reshape(-1, 3)[tris]
    front = mesh.attr.reshape(-1, 2)[tris][..., 1]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, key in enumerate(shaders.skin_features(rest, front)):
        groups.setdefault(key, []).append(i)
    return [((material, key), tris[idx]) for key, idx in sorted(groups.items())]


def _make_part(meshes: tuple[geometry.GridMesh, ...]) -> _Part:
    rest, static, tris, offsets, parts, draws = [], [], [], [], [], []
    start = first = 0
    for mesh in meshes:
        r = mesh.rest.reshape(-1, 3)
        a = mesh.attr.reshape(-1, 2)
        rest.append(r)
        static.append(np.concatenate([r, a], axis=1))
        for key, group in _program_groups(mesh):
            tris.append(group + start)
            count = group.size
            if draws and draws[-1][0] == key:  # consecutive meshes of a program: one draw
                draws[-1] = (key, draws[-1][1], draws[-1][2] + count)
            else:
                draws.append((key, first, count))
            first += count
        offsets.append(start)
        parts.append(np.full(len(r), mesh.part))
        start += len(r)
    rest_all = np.concatenate(rest).astype(np.float32)
    return _Part(
        meshes=meshes,
        rest=rest_all,
        static=np.concatenate(static).astype(np.float32),
        indices=np.concatenate(tris).astype(np.uint32).reshape(-1),
        table=bones.build_table(rest_all.astype(np.float64), np.concatenate(parts)),
        offsets=tuple(offsets),
        mouth_unit=_mouth_open_offset(rest_all, 1.0, np.float64),
        draws=tuple(draws),
    )


def _mouth_open_offset(rest: np.ndarray, gap: float, dtype=np.float32) -> np.ndarray:
    """Vertical offsets that part the lips: upper lip up, lower lip down, fading away."""
    if gap <= 0:
        return np.zeros(len(rest), dtype)
    x, y = rest[:, 0], rest[:, 1]
    ml = shapes.LipShape.mouth_line(x)
    window = np.exp(-((x / (shapes.MOUTH_HALF_WIDTH + 0.6)) ** 6)) * np.exp(
        -(((y - ml) / 2.0) ** 2)
    )
    window *= rest[:, 2] > 5.0
    return (0.5 * gap * np.tanh((y - ml) / 0.1) * window).astype(dtype)


def deform_part(part: _Part, values: dict[str, float], gap: float) -> np.ndarray:
    """(N, 6) float32 posed vertices and normals of a part for these controls and lip gap."""
    pos = bones.apply_table(part.rest, part.table, values)
    if gap > 0:  # offsets are linear in the gap: the window over the mesh is computed once
        pos[:, 1] += (gap * part.mouth_unit).astype(np.float32)
    out = np.empty((len(pos), 6), np.float32)
    out[:, :3] = pos
    for mesh, start in zip(part.meshes, part.offsets, strict=True):
        rows, cols = mesh.shape
        grid = pos[start : start + rows * cols].reshape(rows, cols, 3)
        normals = geometry.grid_normals(grid, mesh.wrap, mesh.flip)
        out[start : start + rows * cols, 3:] = normals.reshape(-1, 3)
    return out


def make_part(meshes: tuple[geometry.GridMesh, ...]) -> _Part:
    """The static data (rest pose, bone table, draw ranges) of meshes drawn together."""
    return _make_part(meshes)


def hair_offset(values: dict[str, float]) -> float:
    """How far (cm) the hair shell stands out from the scalp along its normals."""
    return (0.6 + 0.8 * values["hair_volume"] - 1.0) * 0.6


class Renderer:
    """Renders parameter vectors of the reference rig; each instance owns a GL context."""

    # Controls whose renders `color_response` draws without drawing: none on this rig
    palette_controls: tuple[str, ...] = ()

    def __init__(self, size: int = 512, spec: RigSpec | None = None) -> None:
        self.size = int(size)
        self.spec = spec or load_reference_spec()
        self._ctx = None
        self._core: _Part | None = None
        self._hair: dict[str, _Part] = {}
        # The last deformed vertices of each part, by the pose they were made for.
        self._posed: dict[str, tuple[tuple, np.ndarray]] = {}
        self._jaw = landmarks.jaw_vertex_indices()
        self._bone_arrays = bones.bone_arrays()

    # --- GL setup -------------------------------------------------------------------------
    def _context(self):
        if self._ctx is not None:
            return self._ctx
        import moderngl

        try:
            ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as exc:  # no EGL: report as a typed, actionable error
            raise FacefitError(
                f"cannot create an offscreen OpenGL context ({exc}); install libegl1 and "
                "libgl1-mesa-dri",
                code="RENDERER_UNAVAILABLE",
            ) from exc
        log.debug("rig renderer on %s", ctx.info.get("GL_RENDERER"))
        self._progs: dict[ProgramKey, object] = {}
        size = (self.size, self.size)
        self._scene_color = ctx.texture(size, 4)
        self._scene_color.filter = (ctx.LINEAR, ctx.LINEAR)  # the edge filter taps between pixels
        self._scene_color.repeat_x = self._scene_color.repeat_y = False
        self._label_buf = ctx.renderbuffer(size, 1, dtype="u1")
        depth = ctx.depth_renderbuffer(size)
        self._scene_fbo = ctx.framebuffer(
            color_attachments=[self._scene_color, self._label_buf], depth_attachment=depth
        )
        # Views of single attachments: a float clear colour is undefined for the integer
        # label buffer, so each is cleared on its own.
        self._color_only = ctx.framebuffer(
            color_attachments=[self._scene_color], depth_attachment=depth
        )
        self._label_only = ctx.framebuffer(color_attachments=[self._label_buf])
        self._post = ctx.program(
            vertex_shader=shaders.POST_VERTEX, fragment_shader=shaders.POST_FXAA
        )
        self._post["u_texel"].value = (1.0 / self.size, 1.0 / self.size)
        self._post_vao = ctx.vertex_array(self._post, [])
        self._out_fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer(size, 4)])
        self._scene_rgba = bytearray(self.size * self.size * 4)
        self._vaos: dict[str, tuple] = {}
        self._ctx = ctx
        return ctx

    def _part(self, key: str) -> _Part:
        if key == "core":
            if self._core is None:
                self._core = self._with_programs(_make_part(geometry.core_meshes()))
            return self._core
        if key not in self._hair:
            self._hair[key] = self._with_programs(_make_part(geometry.hair_meshes(key)))
        return self._hair[key]

    def _with_programs(self, part: _Part) -> _Part:
        """Compile the programs a part draws with (before any uniforms are set)."""
        for key, _, _ in part.draws:
            if key not in self._progs:
                material, features = key
                self._progs[key] = prog = self._ctx.program(
                    vertex_shader=shaders.VERTEX,
                    fragment_shader=shaders.fragment(material, features),
                )
                fixed = {"u_vp": camera.view_projection().T.copy(), "u_cam": camera.eye_position()}
                self._set_program_uniforms(fixed, [prog])
        return part

    def _vao(self, key: str, part: _Part):
        """(draws, dynamic buffer) of a part, made once: one vertex array per program."""
        if key not in self._vaos:
            ctx = self._ctx
            dyn = ctx.buffer(reserve=len(part.rest) * 24)
            static = ctx.buffer(part.static.tobytes())
            ibo = ctx.buffer(part.indices.tobytes())
            draws = []
            for program, first, count in part.draws:
                vao = ctx.vertex_array(
                    self._progs[program],
                    [
                        (dyn, "3f 3f", "in_pos", "in_normal"),
                        (static, "3f 2f", "in_rest", "in_attr"),
                    ],
                    index_buffer=ibo,
                    index_element_size=4,
                    skip_errors=True,  # attributes a material's shader does not read
                )
                draws.append((vao, first, count))
            self._vaos[key] = (tuple(draws), dyn)
        return self._vaos[key]

    # --- per render --------------------------------------------------------------------------
    def _posed_part(
        self, key: str, part: _Part, values: dict[str, float], gap: float
    ) -> np.ndarray:
        """`_deform`, reused while the controls its bones read and the lip gap are unchanged.

        A fit redraws one face many times with only colours or one discrete option changed
        (the colour match, the hairstyle outlines, the real-rig check): the vertices and
        normals, a fifth of a small render's time, are then the same. Read-only: copy to edit.
        """
        pose = (tuple(values[name] for name in part.table.controls), gap)
        last = self._posed.get(key)
        if last is None or last[0] != pose:
            last = (pose, self._deform(part, values, gap))
            last[1].flags.writeable = False
            self._posed[key] = last
        return last[1]

    def _deform(self, part: _Part, values: dict[str, float], gap: float) -> np.ndarray:
        return deform_part(part, values, gap)

    def _set_uniforms(self, values: dict[str, float], choice: dict[str, str]) -> None:
        uniforms = dict(colors.palette(values))
        uniforms["u_blush"] = 0.15 + 0.5 * values["cheek_blush"]
        uniforms["u_eye"] = shapes.EyeShape.from_controls(values).uniforms()
        uniforms["u_brow_shape"] = shapes.BrowShape.from_controls(
            values, choice["eyebrow_style"]
        ).uniforms()
        uniforms["u_brow_density"] = 0.45 + 0.75 * values["brow_darkness"]
        uniforms["u_lips"] = shapes.LipShape.from_controls(values).uniforms()
        uniforms["u_iris_size"] = 0.8 + 0.4 * values["iris_size"]
        uniforms["u_beard"] = BEARD_STYLES[choice["facial_hair"]]
        uniforms["u_beard_density"] = values["facial_hair_density"]
        style = geometry.HAIRSTYLES[choice["hairstyle"]]
        base_hl = style.hairline if style else 6.9
        fringe = style.fringe if style else 0.0
        uniforms["u_hairline"] = (base_hl + 3.0 * (values["hairline_height"] - 0.5), fringe)
        uniforms["u_scalp"] = 0.0 if style is None else (0.55 if style.top < 0.2 else 0.3)
        self._set_program_uniforms(uniforms)

    def _set_program_uniforms(self, uniforms: dict, progs=None) -> None:
        for prog in self._progs.values() if progs is None else progs:
            for name, value in uniforms.items():
                member = prog.get(name, None)  # a program keeps only the uniforms it reads
                if member is None:
                    continue
                if isinstance(value, np.ndarray):
                    member.write(value.astype(np.float32).tobytes())
                else:
                    member.value = value

    def render(self, vec: np.ndarray) -> RigRender:
        """Render one parameter vector (D,) of the rig's layout; same vector, same pixels."""
        vec = self.spec.validate_vector(vec)
        # GL calls go to the thread's current context: with several renderers in a process
        # (two sizes, say), each must make its own current for the whole render.
        with self._context():
            return self._render(vec)

    def _render(self, vec: np.ndarray) -> RigRender:
        values = {c.name: float(vec[i]) for i, c in enumerate(self.spec.continuous)}
        choice = self.spec.options(vec)
        ctx = self._ctx
        gap = shapes.LipShape.from_controls(values).gap

        core = self._part("core")
        core_data = self._posed_part("core", core, values, gap)
        hair_key = choice["hairstyle"]
        hair = self._part(hair_key) if geometry.HAIRSTYLES[hair_key] is not None else None
        hair_data = None
        if hair is not None:
            hair_data = self._posed_part(hair_key, hair, values, 0.0).copy()
            # hair volume: push the shell out from the scalp along its normal
            hair_data[:, :3] += hair_data[:, 3:] * hair_offset(values)

        self._set_uniforms(values, choice)
        self._label_only.clear(0.0, 0.0, 0.0, 0.0)
        self._color_only.clear(*BACKGROUND, 0.0)  # alpha 0 until a surface is drawn
        ctx.enable(ctx.DEPTH_TEST | ctx.CULL_FACE)
        # Hair first: the skin it hides then fails the early depth test instead of being
        # shaded and overdrawn (no two surfaces share a depth, so the order changes no pixel).
        parts = [("core", core, core_data)]
        if hair is not None:
            parts.insert(0, (hair_key, hair, hair_data))
        self._scene_fbo.use()
        for key, part, data in parts:
            draws, dyn = self._vao(key, part)
            dyn.write(data.tobytes())
            for vao, first, count in draws:
                vao.render(vertices=count, first=first)
        ctx.disable(ctx.DEPTH_TEST | ctx.CULL_FACE)
        self._edge_filter()
        image = self._read_color()
        labels = self._read_labels()
        lm = self._landmarks(values, choice, core, core_data, gap)
        return RigRender(image=image, labels=labels, landmarks68=lm)

    def _edge_filter(self) -> None:
        """Scene colour -> output framebuffer, FXAA applied where anything was drawn.

        Where the plain background surrounds a pixel the filter returns it unchanged, so it
        runs only inside the drawn surfaces' bounding box (alpha > 0) plus a 2 px margin, and
        the rest is copied: the same pixels for about half the filter's cost.
        """
        ctx = self._ctx
        self._scene_fbo.read_into(self._scene_rgba, components=4, alignment=1, attachment=0)
        alpha = np.frombuffer(self._scene_rgba, np.uint8)[3::4].reshape(self.size, self.size)
        rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
        ctx.copy_framebuffer(self._out_fbo, self._color_only)
        if not len(rows):
            return
        x0, y0 = max(int(cols[0]) - 2, 0), max(int(rows[0]) - 2, 0)  # GL rows: bottom up
        x1, y1 = min(int(cols[-1]) + 3, self.size), min(int(rows[-1]) + 3, self.size)
        self._out_fbo.scissor = (x0, y0, x1 - x0, y1 - y0)
        self._filter_pass()
        self._out_fbo.scissor = None

    def _filter_pass(self) -> None:
        """The edge filter's one draw: scene colour -> output framebuffer (its scissor)."""
        self._out_fbo.use()
        self._scene_color.use(location=0)
        self._post_vao.render(mode=self._ctx.TRIANGLES, vertices=3)

    def _read_color(self) -> np.ndarray:
        raw = self._out_fbo.read(components=3, alignment=1)
        return np.frombuffer(raw, np.uint8).reshape(self.size, self.size, 3)[::-1].copy()

    def color_response(self, vec: np.ndarray):
        """`vec`'s render at any values of `palette_controls` (see the human rig's)."""
        raise NotImplementedError(f"{self.spec.rig_id} has no colour response")

    def edge_filtered(self, image: np.ndarray) -> np.ndarray:
        """An (S, S, 3) uint8 picture through the edge filter that finishes every render."""
        rgba = np.full((self.size, self.size, 4), 255, np.uint8)
        rgba[..., :3] = image[::-1]  # GL rows run bottom up
        with self._context():
            self._scene_color.write(rgba.tobytes())
            self._filter_pass()
            return self._read_color()

    def _read_labels(self) -> np.ndarray:
        raw = self._scene_fbo.read(components=1, alignment=1, attachment=1, dtype="u1")
        return np.frombuffer(raw, np.uint8).reshape(self.size, self.size)[::-1].copy()

    def _landmarks(
        self,
        values: dict[str, float],
        choice: dict[str, str],
        core: _Part,
        core_data: np.ndarray,
        gap: float,
    ) -> np.ndarray:
        anchors = landmarks.rest_anchors(values, choice["eyebrow_style"])
        pts = np.empty((68, 3), np.float32)
        pts[:17] = core_data[self._jaw, :3]
        rest = anchors[17:].astype(np.float64)
        moved = bones.apply_points(rest, self._bone_arrays, values)
        moved[:, 1] += _mouth_open_offset(rest, gap)
        pts[17:] = moved
        return camera.project(pts, self.size)
