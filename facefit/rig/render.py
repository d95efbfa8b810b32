"""The reference game client: parameter vector -> rendered face, label map and 68 landmarks.

The meshes are deformed on the CPU (numpy), then rasterized with OpenGL 3.3 through an
offscreen EGL context (Mesa llvmpipe where there is no GPU). Colour and labels come from one
multisampled pass with two render targets; labels take one sample per pixel so they stay
class indices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facefit.errors import FacefitError
from facefit.rig import bones, camera, colors, geometry, landmarks, shaders, shapes
from facefit.rig.spec import RigSpec, load_spec

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
    static: np.ndarray  # (N, 6): rest xyz, attr xy, material
    indices: np.ndarray  # (T*3,)
    table: bones.BoneTable
    offsets: tuple[int, ...]


def _make_part(meshes: tuple[geometry.GridMesh, ...]) -> _Part:
    rest, static, tris, offsets, parts = [], [], [], [], []
    start = 0
    for mesh in meshes:
        r = mesh.rest.reshape(-1, 3)
        a = mesh.attr.reshape(-1, 2)
        mat = np.full((len(r), 1), geometry.MATERIALS[mesh.part], np.float32)
        rest.append(r)
        static.append(np.concatenate([r, a, mat], axis=1))
        tris.append(mesh.triangles() + start)
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
    )


def _mouth_open_offset(rest: np.ndarray, gap: float) -> np.ndarray:
    """Vertical offsets that part the lips: upper lip up, lower lip down, fading away."""
    if gap <= 0:
        return np.zeros(len(rest), np.float32)
    x, y = rest[:, 0], rest[:, 1]
    ml = shapes.LipShape.mouth_line(x)
    window = np.exp(-((x / (shapes.MOUTH_HALF_WIDTH + 0.6)) ** 6)) * np.exp(
        -(((y - ml) / 2.0) ** 2)
    )
    window *= rest[:, 2] > 5.0
    return (0.5 * gap * np.tanh((y - ml) / 0.1) * window).astype(np.float32)


class Renderer:
    """Renders parameter vectors of the reference rig; one instance per process (owns a GL context)."""

    def __init__(self, size: int = 512, samples: int = 4, spec: RigSpec | None = None) -> None:
        self.size = int(size)
        self.samples = int(samples)
        self.spec = spec or load_spec()
        self._ctx = None
        self._core: _Part | None = None
        self._hair: dict[str, _Part] = {}
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
        self._prog = ctx.program(vertex_shader=shaders.VERTEX, fragment_shader=shaders.FRAGMENT)
        self._prog["u_vp"].write(camera.view_projection().T.copy().tobytes())
        self._prog["u_cam"].value = camera.eye_position()
        size = (self.size, self.size)
        ms_color = ctx.renderbuffer(size, 4, samples=self.samples)
        ms_label = ctx.renderbuffer(size, 1, samples=self.samples, dtype="u1")
        ms_depth = ctx.depth_renderbuffer(size, samples=self.samples)
        self._ms_fbo = ctx.framebuffer(
            color_attachments=[ms_color, ms_label], depth_attachment=ms_depth
        )
        # Views of single attachments: a float clear colour is undefined for the integer
        # label buffer, so each is cleared on its own.
        self._ms_clear_color = ctx.framebuffer(
            color_attachments=[ms_color], depth_attachment=ms_depth
        )
        self._ms_clear_label = ctx.framebuffer(color_attachments=[ms_label])
        self._color_tex = ctx.renderbuffer(size, 4)
        self._label_tex = ctx.renderbuffer(size, 1, dtype="u1")
        self._fbo = ctx.framebuffer(color_attachments=[self._color_tex, self._label_tex])
        self._vaos: dict[str, tuple] = {}
        self._ctx = ctx
        return ctx

    def _part(self, key: str) -> _Part:
        if key == "core":
            if self._core is None:
                self._core = _make_part(geometry.core_meshes())
            return self._core
        if key not in self._hair:
            self._hair[key] = _make_part(geometry.hair_meshes(key))
        return self._hair[key]

    def _vao(self, key: str, part: _Part):
        if key not in self._vaos:
            ctx = self._ctx
            dyn = ctx.buffer(reserve=len(part.rest) * 24)
            static = ctx.buffer(part.static.tobytes())
            ibo = ctx.buffer(part.indices.tobytes())
            vao = ctx.vertex_array(
                self._prog,
                [(dyn, "3f 3f", "in_pos", "in_normal"), (static, "3f 3f", "in_rest", "in_attr")],
                index_buffer=ibo,
                index_element_size=4,
            )
            self._vaos[key] = (vao, dyn)
        return self._vaos[key]

    # --- per render --------------------------------------------------------------------------
    def _deform(self, part: _Part, values: dict[str, float], gap: float) -> np.ndarray:
        pos = bones.apply_table(part.rest, part.table, values)
        pos[:, 1] += _mouth_open_offset(part.rest, gap)
        out = np.empty((len(pos), 6), np.float32)
        out[:, :3] = pos
        for mesh, start in zip(part.meshes, part.offsets, strict=True):
            rows, cols = mesh.shape
            grid = pos[start : start + rows * cols].reshape(rows, cols, 3)
            normals = geometry.grid_normals(grid, mesh.wrap, mesh.flip)
            out[start : start + rows * cols, 3:] = normals.reshape(-1, 3)
        return out

    def _set_uniforms(self, values: dict[str, float], choice: dict[str, str]) -> None:
        p = self._prog
        pal = colors.palette(values)
        for name, rgb in pal.items():
            p[name].value = rgb
        p["u_blush"].value = 0.15 + 0.5 * values["cheek_blush"]
        p["u_eye"].value = shapes.EyeShape.from_controls(values).uniforms()
        p["u_brow_shape"].value = shapes.BrowShape.from_controls(
            values, choice["eyebrow_style"]
        ).uniforms()
        p["u_brow_density"].value = 0.45 + 0.75 * values["brow_darkness"]
        p["u_lips"].value = shapes.LipShape.from_controls(values).uniforms()
        p["u_iris_size"].value = 0.8 + 0.4 * values["iris_size"]
        p["u_beard"].value = BEARD_STYLES[choice["facial_hair"]]
        p["u_beard_density"].value = values["facial_hair_density"]
        style = geometry.HAIRSTYLES[choice["hairstyle"]]
        base_hl = style.hairline if style else 6.9
        fringe = style.fringe if style else 0.0
        p["u_hairline"].value = (base_hl + 3.0 * (values["hairline_height"] - 0.5), fringe)
        p["u_scalp"].value = 0.0 if style is None else (0.55 if style.top < 0.2 else 0.3)

    def render(self, vec: np.ndarray) -> RigRender:
        """Render one parameter vector (D,) of the rig's layout; same vector, same pixels."""
        vec = self.spec.validate_vector(vec)
        decoded = self.spec.decode(vec)
        values = {c.name: float(vec[i]) for i, c in enumerate(self.spec.continuous)}
        choice = decoded["discrete"]
        ctx = self._context()
        gap = shapes.LipShape.from_controls(values).gap
        thickness = 0.6 + 0.8 * values["hair_volume"]

        core = self._part("core")
        core_data = self._deform(core, values, gap)
        hair_key = choice["hairstyle"]
        hair = self._part(hair_key) if geometry.HAIRSTYLES[hair_key] is not None else None
        hair_data = None
        if hair is not None:
            hair_data = self._deform(hair, values, 0.0)
            # hair volume: push the shell out from the scalp along its normal
            offset = (thickness - 1.0) * 0.6
            hair_data[:, :3] += hair_data[:, 3:] * offset

        self._set_uniforms(values, choice)
        self._ms_clear_label.clear(0.0, 0.0, 0.0, 0.0)
        self._ms_clear_color.clear(*BACKGROUND, 1.0)
        self._ms_fbo.use()
        ctx.enable(ctx.DEPTH_TEST | ctx.CULL_FACE)
        vao, dyn = self._vao("core", core)
        dyn.write(core_data.tobytes())
        vao.render()
        if hair is not None:
            vao, dyn = self._vao(hair_key, hair)
            dyn.write(hair_data.tobytes())
            vao.render()
        # Blit resolves colour by averaging samples; the integer label buffer takes one sample
        # per pixel, so labels stay class ids.
        ctx.copy_framebuffer(self._fbo, self._ms_fbo)
        image = self._read_color()
        labels = self._read_labels()
        lm = self._landmarks(values, choice, core, core_data, gap)
        return RigRender(image=image, labels=labels, landmarks68=lm)

    def _read_color(self) -> np.ndarray:
        raw = self._fbo.read(components=3, alignment=1, attachment=0)
        return np.frombuffer(raw, np.uint8).reshape(self.size, self.size, 3)[::-1].copy()

    def _read_labels(self) -> np.ndarray:
        raw = self._fbo.read(components=1, alignment=1, attachment=1, dtype="u1")
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
