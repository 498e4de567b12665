"""python -m hwr.read: real crops → text and confidence, in three formats; bad files are one line each."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hwr import config
from hwr.read import main

ROOT = Path(__file__).resolve().parent.parent
CROPS = config.BUNDLED_DATA / "validation_v2" / "validation"
#: two crops of the evaluation set and their labels, which the committed model reads right
KNOWN = {CROPS / "VALIDATION_1001.jpg": "DOTO", CROPS / "VALIDATION_1002.jpg": "LEILA"}

pytestmark = pytest.mark.skipif(not config.DEFAULT_MODEL.is_file(), reason="no committed model")


def test_prints_each_files_text_and_confidence(capsys):
    assert main([str(p) for p in KNOWN]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[str(p), t] for p, t in KNOWN.items()]
    assert all(0.5 < float(line.split("\t")[2]) <= 1.0 for line in lines)


def test_json_and_csv(capsys):
    files = [str(p) for p in KNOWN]
    assert main(["--json", "--decoder", "greedy", *files]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["text"]) for r in rows] == [(str(p), t) for p, t in KNOWN.items()]
    assert main(["--csv", *files]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["text"] for r in table] == list(KNOWN.values()) and set(table[0]) == {"file", "text", "confidence"}


def test_a_bad_file_is_one_line_and_the_others_are_still_read(tmp_path, capsys):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    good = next(iter(KNOWN))
    assert main([str(junk), str(tmp_path / "absent.png"), str(good)]) == 1
    out, err = capsys.readouterr()
    assert out.strip().split("\t")[:2] == [str(good), "DOTO"]
    errors = err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)
    assert "junk.jpg" in errors[0] and "absent.png" in errors[1] and "Traceback" not in err


def test_a_blank_image_is_one_line_saying_no_writing_was_found(tmp_path, capsys):
    blank = tmp_path / "blank.png"
    assert cv2.imwrite(str(blank), np.full((220, 880), 255, np.uint8))
    good = next(iter(KNOWN))
    assert main([str(blank), str(good)]) == 1
    out, err = capsys.readouterr()
    assert out.strip().split("\t")[:2] == [str(good), "DOTO"]  # blank paper reads as nothing, not "A"
    assert err.strip() == (f"error: {blank}: no writing found in it: the image is blank, or its writing "
                           "too faint to tell from the paper")


def test_a_missing_model_is_one_line(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none.keras"), str(next(iter(KNOWN)))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model file not found") and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main([])  # no image: a usage error


def test_the_command_reads_without_tensorflow():
    """A real `python -m hwr.read` process, then the same call checked for what it imported."""
    done = subprocess.run([sys.executable, "-m", "hwr.read", str(next(iter(KNOWN)))], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\t")[1] == "DOTO"
    code = ("import sys; from hwr.read import main; rc = main(sys.argv[1:]); "
            "print('keras' in sys.modules, 'tensorflow' in sys.modules); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, str(next(iter(KNOWN)))], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"
