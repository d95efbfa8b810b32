"""The reference rig: spec, renderer, landmarks, labels, reference face, shards and imports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facefit.errors import SpecError
from facefit.rig import bones
from facefit.rig.render import Renderer
from facefit.rig.spec import load_spec, parse_params_document

SIZE = 128


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def renderer():
    return Renderer(size=SIZE)


def _with(spec, **values):
    return spec.encode({"continuous": values})


# --- spec -------------------------------------------------------------------------------


def test_spec_covers_the_issue(spec):
    assert spec.rig_id.startswith("facefit-reference/")
    assert spec.continuous_size >= 60
    groups = {g.name: g.options for g in spec.discrete}
    assert len(groups["hairstyle"]) >= 8 and len(groups["eyebrow_style"]) >= 5
    assert len(groups["facial_hair"]) >= 4 and groups["facial_hair"][0] == "none"
    assert sum(len(o) for o in groups.values()) >= 20
    assert spec.labels == (
        "background", "skin", "hair", "left_brow", "right_brow", "left_eye", "right_eye",
        "nose", "upper_lip", "inner_mouth", "lower_lip",
    )  # fmt: skip
    assert all(c.doc and c.group for c in spec.continuous)


def test_every_control_is_implemented(spec):
    implemented = {b.control for b in bones.BONES} | bones.SHADER_CONTROLS
    assert {c.name for c in spec.continuous} == implemented


def test_vector_layout(spec):
    mean = spec.mean_vector()
    assert mean.dtype == np.float32 and mean.shape == (spec.vector_size,)
    assert np.all(mean[: spec.continuous_size] == 0.5)
    for sl in spec.discrete_slices.values():
        assert mean[sl][0] == 1.0 and mean[sl].sum() == 1.0
    vec = spec.random_vector(np.random.default_rng(3))
    assert all(vec[sl].sum() == 1.0 for sl in spec.discrete_slices.values())
    assert (
        spec.continuous_size + sum(sl.stop - sl.start for sl in spec.discrete_slices.values())
        == spec.vector_size
    )


def test_encode_decode_round_trip(spec):
    vec = spec.random_vector(np.random.default_rng(5))
    again = spec.encode(spec.decode(vec))
    np.testing.assert_allclose(again, vec, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"continuous": {"nose_size_typo": 0.3}}, "unknown continuous control"),
        ({"continuous": {"eye_size": 1.5}}, "outside"),
        ({"continuous": {"eye_size": "big"}}, "must be a number"),
        ({"discrete": {"hairstyle": "mohawk"}}, "has no option"),
        ({"discrete": {"hats": "cap"}}, "unknown discrete group"),
        ({"rig": "other/1.0"}, "this rig is"),
    ],
)
def test_encode_rejects_bad_parameters(spec, params, message):
    with pytest.raises(SpecError, match=message):
        spec.encode(params)


def test_params_documents_of_both_shapes(spec):
    plain = {"rig": spec.rig_id, "continuous": {"eye_size": 0.7}, "discrete": {"hairstyle": "bob"}}
    fit = {"rig": spec.rig_id, "params": {"continuous": {"eye_size": 0.7},
                                          "discrete": {"hairstyle": "bob"}}, "loss": 0.1}  # fmt: skip
    a = spec.encode(parse_params_document(plain))
    b = spec.encode(parse_params_document(fit))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(SpecError):
        parse_params_document({"continous": {}})


# --- renderer -------------------------------------------------------------------------------


def test_render_outputs_and_determinism(spec, renderer):
    vec = spec.random_vector(np.random.default_rng(11))
    a, b = renderer.render(vec), renderer.render(vec)
    assert a.image.shape == (SIZE, SIZE, 3) and a.image.dtype == np.uint8
    assert a.labels.shape == (SIZE, SIZE) and a.labels.dtype == np.uint8
    assert a.landmarks68.shape == (68, 2) and a.landmarks68.dtype == np.float32
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.landmarks68, b.landmarks68)
    assert a.labels.max() < len(spec.labels)


def test_render_rejects_wrong_vectors(spec, renderer):
    with pytest.raises(SpecError):
        renderer.render(np.zeros(3, np.float32))
    with pytest.raises(SpecError):
        renderer.render(spec.mean_vector() * 2.0)


# a few-millimetre detail: checked at a size where it spans pixels
FINE_CONTROLS = {"cupids_bow"}


def test_every_control_visibly_changes_the_render(spec, renderer):
    weak = []
    large = Renderer(size=384)
    for c in spec.continuous:
        # only a beard makes the facial-hair density visible
        beard = "full_beard" if c.name == "facial_hair_density" else "none"
        base = {"discrete": {"facial_hair": beard}}
        r = large if c.name in FINE_CONTROLS else renderer
        lo = r.render(spec.encode({**base, "continuous": {c.name: 0.0}})).image
        hi = r.render(spec.encode({**base, "continuous": {c.name: 1.0}})).image
        changed = (np.abs(lo.astype(int) - hi.astype(int)).sum(-1) > 12).sum()
        if changed < 15:
            weak.append((c.name, int(changed)))
    assert not weak, weak


def test_every_discrete_option_changes_the_render(spec, renderer):
    mean = renderer.render(spec.mean_vector()).image
    for g in spec.discrete:
        for option in g.options[1:]:
            img = renderer.render(spec.encode({"discrete": {g.name: option}})).image
            assert (np.abs(img.astype(int) - mean.astype(int)).sum(-1) > 12).sum() > 15, option


def test_brow_styles_stay_apart_whatever_the_brow_controls(spec):
    """No setting of `brow_arch` and `brow_thickness` makes one style draw another's brow
    (rig 2.1's wider ranges let them coincide exactly): a reader can tell styles apart."""
    from facefit.rig.shapes import BROW_STYLES, BrowShape

    t = np.linspace(0.0, 1.0, 41)
    grid = np.linspace(0.0, 1.0, 11)

    def outlines(style):
        rows = []
        for arch in grid:
            for thick in grid:
                controls = {"brow_length": 0.5, "brow_tilt": 0.5, "brow_arch": arch}
                b = BrowShape.from_controls({**controls, "brow_thickness": thick}, style)
                rows.append(np.concatenate([b.centre(t) + b.half_thickness(t),
                                            b.centre(t) - b.half_thickness(t)]))  # fmt: skip
        return np.stack(rows)

    drawn = {style: outlines(style) for style in BROW_STYLES}
    styles = list(drawn)
    for i, a in enumerate(styles):
        for b in styles[i + 1 :]:
            closest = np.abs(drawn[a][:, None] - drawn[b][None]).max(-1).min()
            assert closest > 0.025, (a, b, closest)  # cm: a quarter pixel at 256 px


def _lm(spec, renderer, name, value):
    return renderer.render(_with(spec, **{name: value})).landmarks68


def _eye_gap(lm):
    return lm[42:48, 0].mean() - lm[36:42, 0].mean()


# control, function of landmarks that must grow from value 0 to value 1
DIRECTIONS = {
    "eye_spacing": _eye_gap,
    "eye_height": lambda lm: -lm[36:48, 1].mean(),
    "eye_size": lambda lm: lm[45, 0] - lm[36, 0] - _eye_gap(lm),
    "eye_width": lambda lm: lm[39, 0] - lm[36, 0],
    "eye_opening": lambda lm: lm[40, 1] - lm[38, 1],
    "eye_tilt": lambda lm: lm[39, 1] - lm[36, 1],
    "brow_height": lambda lm: -lm[17:27, 1].mean(),
    "brow_spacing": lambda lm: lm[22, 0] - lm[21, 0],
    "brow_tilt": lambda lm: lm[21, 1] - lm[17, 1],
    "brow_length": lambda lm: lm[21, 0] - lm[17, 0],
    "nose_length": lambda lm: lm[33, 1],
    "nose_height": lambda lm: -lm[31:36, 1].mean(),
    "nose_width": lambda lm: lm[35, 0] - lm[31, 0],
    "mouth_width": lambda lm: lm[54, 0] - lm[48, 0],
    "mouth_height": lambda lm: -lm[48:68, 1].mean(),
    "upper_lip_thickness": lambda lm: lm[62, 1] - lm[51, 1],
    "lower_lip_thickness": lambda lm: lm[57, 1] - lm[66, 1],
    "mouth_corner_tilt": lambda lm: lm[57, 1] - lm[[48, 54], 1].mean(),
    "mouth_open": lambda lm: lm[66, 1] - lm[62, 1],
    "face_length": lambda lm: lm[8, 1],
    "chin_length": lambda lm: lm[8, 1],
    "jaw_width": lambda lm: lm[12, 0] - lm[4, 0],
    "head_width": lambda lm: lm[16, 0] - lm[0, 0],
    "chin_width": lambda lm: lm[9, 0] - lm[7, 0],
}


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_controls_move_landmarks_in_the_documented_direction(spec, renderer, name):
    measure = DIRECTIONS[name]
    lo, mid, hi = (measure(_lm(spec, renderer, name, v)) for v in (0.0, 0.5, 1.0))
    assert lo < mid < hi, (lo, mid, hi)


def test_labels_agree_with_landmarks(spec):
    renderer = Renderer(size=256)  # thin brows need a few pixels
    for seed in range(3):
        vec = spec.random_vector(np.random.default_rng(100 + seed))
        vec[spec.discrete_slices["facial_hair"]] = np.eye(5)[0]  # beards may cover lips
        vec[spec.discrete_slices["hairstyle"]] = np.eye(len(spec.discrete[0].options))[0]
        # extreme brow/eye heights may bring a brow down onto the lid (see README)
        for name in ("mouth_open", "brow_height", "eye_height", "eye_opening"):
            vec[spec.continuous_index[name]] = 0.5
        r = renderer.render(vec)

        def label_at(pt, labels=r.labels):
            x, y = np.round(pt).astype(int)
            return labels[y - 2 : y + 3, x - 2 : x + 3].ravel()

        names = spec.labels
        assert names.index("left_eye") in label_at(r.landmarks68[36:42].mean(0))
        assert names.index("right_eye") in label_at(r.landmarks68[42:48].mean(0))
        assert names.index("nose") in label_at(r.landmarks68[30])
        assert names.index("upper_lip") in label_at((r.landmarks68[51] + r.landmarks68[62]) / 2)
        assert names.index("lower_lip") in label_at((r.landmarks68[57] + r.landmarks68[66]) / 2)
        assert names.index("left_brow") in label_at(r.landmarks68[19] + (0, 2))
        assert names.index("right_brow") in label_at(r.landmarks68[24] + (0, 2))
        # image-left features sit left of image-right ones, as in iBUG-68
        assert r.landmarks68[36, 0] < r.landmarks68[45, 0]


def test_reference_file_matches_renderer(spec):
    from facefit.rig.reference import REFERENCE_SIZE, reference_landmarks68, reference_rig_id

    stored = reference_landmarks68()
    rendered = Renderer(size=REFERENCE_SIZE).render(spec.mean_vector()).landmarks68
    assert reference_rig_id() == spec.rig_id
    np.testing.assert_allclose(stored, rendered, atol=0.01)
    np.testing.assert_allclose(reference_landmarks68(256), stored / 2, atol=1e-4)
    # framed tightly: face centred, eyes just above the middle, chin near the bottom edge
    assert abs(stored[:, 0].mean() - 256) < 5
    assert 230 < stored[36:48, 1].mean() < 256 < 440 < stored[8, 1] < 490
    # the face spans over half the frame's width, so eyes are several pixels tall at 128 px
    assert stored[16, 0] - stored[0, 0] > 0.45 * REFERENCE_SIZE


# --- shards and imports ---------------------------------------------------------------------


def test_sample_shards_round_trip_and_resume(tmp_path, spec):
    from facefit.rig.sampling import sample_dataset
    from facefit.rig.shards import RigShardDataset, read_meta

    root = tmp_path / "set"
    meta = sample_dataset(root, 5, seed=1, size=64, shard_size=3, workers=1)
    assert [n for _, n in meta.shards] == [3, 2]
    on_disk = read_meta(root)
    assert on_disk.vector_size == spec.vector_size and on_disk.spec["rig"] == spec.rig_id
    params = np.load(root / "shard-00000" / "params.npy", mmap_mode="r")
    assert params.shape == (3, spec.vector_size)
    expected = spec.random_vector(np.random.default_rng([1, 0]))
    np.testing.assert_array_equal(params[0], expected)

    ds = RigShardDataset(root)
    assert len(ds) == 5
    item = ds[4]
    assert item["image"].shape == (3, 64, 64) and float(item["image"].min()) >= 0.0
    assert float(item["image"].max()) <= 1.0
    assert item["labels"].shape == (64, 64) and str(item["labels"].dtype) == "torch.int64"
    assert item["landmarks"].shape == (68, 2) and 0.1 < float(item["landmarks"].mean()) < 0.9
    assert item["params"].shape == (spec.vector_size,)

    first = (root / "shard-00000" / "images.npy").stat().st_mtime_ns
    ticks = []
    sample_dataset(root, 5, seed=1, size=64, shard_size=3, workers=1, resume=True,
                   on_progress=ticks.append)  # fmt: skip
    assert (root / "shard-00000" / "images.npy").stat().st_mtime_ns == first
    assert sum(ticks) == 5


def test_import_client_folder(tmp_path, spec):
    from facefit.rig.client_import import NO_LABEL, export_client_folder, import_client_folder
    from facefit.rig.shards import RigShardDataset

    rng = np.random.default_rng(7)
    vecs = np.stack([spec.random_vector(rng) for _ in range(3)])
    src = tmp_path / "client"
    export_client_folder(src, vecs, size=64)
    (src / "000002_labels.png").unlink()
    (src / "000002_landmarks.json").unlink()
    meta = import_client_folder(src, tmp_path / "shards", shard_size=2)
    assert meta.n == 3 and meta.rig == spec.rig_id and meta.size == 64
    ds = RigShardDataset(tmp_path / "shards")
    np.testing.assert_allclose(ds[1]["params"].numpy(), vecs[1], atol=1e-5)
    assert int(ds[2]["labels"].max()) == NO_LABEL
    assert bool(ds[2]["landmarks"].isnan().all()) and not bool(ds[0]["landmarks"].isnan().any())

    (src / "000001.json").write_text(json.dumps({"continuous": {"eye_size": 3}}))
    with pytest.raises(SpecError, match="000001.json"):
        import_client_folder(src, tmp_path / "again")


def test_cli_spec_and_render(tmp_path, capsys, spec):
    from facefit.cli import main

    assert main(["rig", "spec", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rig"] == spec.rig_id and doc["labels"] == list(spec.labels)
    assert {"name", "group", "doc"} <= set(doc["continuous"][0])

    params = tmp_path / "p.json"
    params.write_text(json.dumps({"rig": spec.rig_id, "continuous": {"eye_size": 0.9}}))
    lm = tmp_path / "lm.json"
    args = ["rig", "render", str(params), "--out", str(tmp_path / "f.png"), "--size", "64",
            "--labels", str(tmp_path / "l.png"), "--landmarks", str(lm)]  # fmt: skip
    assert main(args) == 0
    assert len(json.loads(lm.read_text())["landmarks68"]) == 68
    params.write_text(json.dumps({"continuous": {"eye_size": 9}}))
    assert main(args) == 2
    assert "BAD_PARAMS" in capsys.readouterr().out


def test_renderers_of_two_sizes_in_one_process_do_not_disturb_each_other(spec, renderer):
    vec = spec.mean_vector()
    before = renderer.render(vec)
    Renderer(size=96).render(vec)
    after = renderer.render(vec)
    assert np.array_equal(before.image, after.image)
    assert np.array_equal(before.labels, after.labels)


def test_geometry_buffers_are_made_once_per_part(spec):
    renderer = Renderer(size=64)
    for _ in range(3):
        renderer.render(spec.mean_vector())
    made = dict(renderer._vaos)
    renderer.render(spec.mean_vector())
    assert set(made) == {"core", spec.discrete[0].options[0]}  # the default hairstyle
    assert all(renderer._vaos[k] is made[k] for k in made)


def test_a_reused_pose_draws_what_a_fresh_renderer_draws(spec):
    """The deformed vertices are reused while the pose holds: a colour or an option changed
    after another face, or a shape control and the lip gap moved, must still draw exactly
    what a renderer that never saw the earlier faces draws."""
    rng = np.random.default_rng(5)
    first, second = spec.random_vector(rng), spec.random_vector(rng)
    names = [c.name for c in spec.continuous]
    recoloured, reshaped, parted = first.copy(), first.copy(), first.copy()
    recoloured[names.index("hair_color")] = 1.0 - first[names.index("hair_color")]
    reshaped[names.index("jaw_width")] = 1.0 - first[names.index("jaw_width")]
    parted[names.index("mouth_open")] = 1.0 - first[names.index("mouth_open")]
    hair = spec.discrete_slices["hairstyle"]
    restyled = first.copy()
    restyled[hair] = np.roll(first[hair], 1)
    used = Renderer(size=64)
    for vec in (first, second, recoloured, reshaped, parted, restyled, first):
        seen = used.render(vec)
        fresh = Renderer(size=64).render(vec)
        np.testing.assert_array_equal(seen.image, fresh.image)
        np.testing.assert_array_equal(seen.labels, fresh.labels)
        np.testing.assert_array_equal(seen.landmarks68, fresh.landmarks68)
