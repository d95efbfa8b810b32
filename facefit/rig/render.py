"""The reference game client: parameter vector -> rendered face, label map and 68 landmarks.

The meshes are deformed on the CPU (numpy), then rasterized with OpenGL 3.3 through an
offscreen EGL context (Mesa llvmpipe where there is no GPU), one fragment program per
material. Colour and labels come from one multisampled pass with two render targets; labels
take one sample per pixel so they stay class indices.
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
    static: np.ndarray  # (N, 5): rest xyz, attr xy
    indices: np.ndarray  # (T*3,)
    table: bones.BoneTable
    offsets: tuple[int, ...]
    draws: tuple[tuple[int, int, int], ...]  # (material, first index, index count) in order


def _make_part(meshes: tuple[geometry.GridMesh, ...]) -> _Part:
    rest, static, tris, offsets, parts, draws = [], [], [], [], [], []
    start = first = 0
    for mesh in meshes:
        r = mesh.rest.reshape(-1, 3)
        a = mesh.attr.reshape(-1, 2)
        rest.append(r)
        static.append(np.concatenate([r, a], axis=1))
        tris.append(mesh.triangles() + start)
        material = geometry.MATERIALS[mesh.part]
        count = tris[-1].size
        if draws and draws[-1][0] == material:  # consecutive meshes of a material: one draw
            draws[-1] = (material, draws[-1][1], draws[-1][2] + count)
        else:
            draws.append((material, first, count))
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
        draws=tuple(draws),
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
        materials = sorted(set(geometry.MATERIALS.values()))
        self._progs = {
            m: ctx.program(vertex_shader=shaders.VERTEX, fragment_shader=shaders.fragment(m))
            for m in materials
        }
        self._set_program_uniforms(
            {"u_vp": camera.view_projection().T.copy(), "u_cam": camera.eye_position()}
        )
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
        """(draws, dynamic buffer) of a part: one vertex array per material program."""
        if key not in self._vaos:
            ctx = self._ctx
            dyn = ctx.buffer(reserve=len(part.rest) * 24)
            static = ctx.buffer(part.static.tobytes())
            ibo = ctx.buffer(part.indices.tobytes())
            draws = []
            for material, first, count in part.draws:
                vao = ctx.vertex_array(
                    self._progs[material],
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

    def _set_program_uniforms(self, uniforms: dict) -> None:
        for prog in self._progs.values():
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
        ctx.enable(ctx.DEPTH_TEST | ctx.CULL_FACE)
        parts = [("core", core, core_data)]
        if hair is not None:
            parts.append((hair_key, hair, hair_data))
        self._ms_fbo.use()
        for key, part, data in parts:
            draws, dyn = self._vao(key, part)
            dyn.write(data.tobytes())
            for vao, first, count in draws:
                vao.render(vertices=count, first=first)
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
