"""The bundled training fonts (data/fonts): what the fetch script lists, licensed, usable, never a test font."""

import re
from pathlib import Path

import numpy as np
import pytest

from hwr import config, synth
from hwr.training import TrainConfig, rendered_names

SCRIPTS = config.ROOT / "scripts"


def _listed(script: str) -> set[str]:
    """The @fontsource package names in a fetch script's FONTS=(...) array."""
    body = re.search(r"FONTS=\(([^)]*)\)", (SCRIPTS / script).read_text()).group(1)
    return set(body.split())


def test_every_listed_font_is_bundled_with_its_licence_and_writes_every_character():
    listed = _listed("fetch_script_fonts.sh")
    files = {p.name for p in config.SCRIPT_FONTS.iterdir()}
    assert files == {f"{n}-latin-400-normal.woff2" for n in listed} | {f"{n}.LICENSE" for n in listed}
    for name in listed:
        assert "SIL Open Font License" in (config.SCRIPT_FONTS / f"{name}.LICENSE").read_text()
    assert len(synth.usable_fonts(config.SCRIPT_FONTS)) == len(listed)


def test_no_training_font_is_a_test_or_development_font():
    # the truly-unseen test fonts (fetch_unseen_fonts.sh) and the held-out development fonts
    assert not _listed("fetch_script_fonts.sh") & _listed("fetch_unseen_fonts.sh")
    stems = {p.stem for p in config.SCRIPT_FONTS.glob("*.woff2")}
    assert not stems & config.HELDOUT_FONTS
    if config.SHARED_FONTS.is_dir():
        assert not stems & {p.stem for p in config.SHARED_FONTS.iterdir()}


def test_synthetic_names_are_rendered_in_every_font_folder_given(tmp_path):
    bundled = TrainConfig(fonts=(config.SCRIPT_FONTS,), processes=1)
    images, texts = rendered_names(bundled, tmp_path, 6, heldout=False)
    assert images.shape == (6, bundled.spec.height, bundled.spec.width) and len(texts) == 6
    if not config.SHARED_FONTS.is_dir():
        pytest.skip("the shared fonts are needed for a second folder")
    both = TrainConfig(fonts=(config.SHARED_FONTS, config.SCRIPT_FONTS), processes=1)
    other, _ = rendered_names(both, tmp_path, 6, heldout=False)
    # another set of fonts is another cache entry, not the first set's images again
    assert len(list(Path(tmp_path).glob("synth-*.npy"))) == 2
    assert not np.array_equal(images, other)
