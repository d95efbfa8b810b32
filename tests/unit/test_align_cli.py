"""`facefit align`: an aligned PNG and lm.json on success; exit 2 and a JSON error otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefit.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"

pytestmark = pytest.mark.timeout(60)


def test_align_writes_the_image_and_landmarks(tmp_path, capsys):
    out, landmarks = tmp_path / "aligned.png", tmp_path / "lm.json"
    status = main(
        [
            "align",
            str(FIXTURES / "london_024_neutral.jpg"),
            "--out",
            str(out),
            "--landmarks",
            str(landmarks),
        ]
    )
    assert status == 0
    assert Image.open(out).size == (512, 512)
    document = json.loads(landmarks.read_text())
    assert document["faces_found"] == 1
    assert np.asarray(document["aligned_landmarks68"]).shape == (68, 2)
    assert np.asarray(document["transform"]).shape == (2, 3)
    assert document["residual"] > 0 and "yaw" in document["quality"]
    assert json.loads(capsys.readouterr().out)["out"] == str(out)


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "EMPTY_FILE"), (b"not a photo at all", "UNSUPPORTED_FORMAT")],
)
def test_bad_photo_exits_2_with_a_json_error(tmp_path, capsys, content, code):
    photo = tmp_path / "upload.jpg"
    photo.write_bytes(content)
    status = main(["align", str(photo), "--out", str(tmp_path / "aligned.png")])
    assert status == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == code and error["message"]
    assert not (tmp_path / "aligned.png").exists()


def test_missing_photo_exits_2(tmp_path, capsys):
    status = main(["align", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "a.png")])
    assert status == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "FILE_NOT_FOUND"
