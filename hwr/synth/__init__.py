"""Stage: synthetic training data. Names in handwriting fonts, made to look like what people bring.

The real set has only 1,000 labelled images, so the recognizer learns mostly from names drawn here,
in three looks, one module each:

* ``form`` (:mod:`hwr.synth.form`): a Kaggle crop of a scanned French school form;
* ``canvas`` (:mod:`hwr.synth.canvas`): a name drawn with a mouse or a finger on the app's canvas;
* ``photo`` (:mod:`hwr.synth.photo`): a name written on paper and photographed with a phone.

All three write with :mod:`hwr.synth.hand` in the fonts of :mod:`hwr.synth.fonts`, in the case
:mod:`hwr.synth.case` picks (capitals, title or lower case, accents; the label stays in capitals);
:mod:`hwr.synth.generate` picks each sample's look and renders many in parallel. Everything random
comes from the ``np.random.Generator`` of each sample, so a sample depends only on its seed.
"""

from hwr.synth.canvas import STICK_LETTERS
from hwr.synth.fonts import DECORATIVE_FONTS, FONT_SUFFIXES, font_problem, usable_fonts
from hwr.synth.generate import PHOTO_FRACTION, STYLES, render_name, synthesize
from hwr.synth.hand import centre_lines, pen_ink
from hwr.synth.names import RANDOM_SHARE, sample_names

#: Bumped when the renderer changes, so caches of rendered names are rebuilt.
SYNTH_VERSION = 5

__all__ = [
    "DECORATIVE_FONTS", "FONT_SUFFIXES", "PHOTO_FRACTION", "RANDOM_SHARE", "STICK_LETTERS", "STYLES", "SYNTH_VERSION",
    "centre_lines", "font_problem", "pen_ink", "render_name", "sample_names", "synthesize",
    "usable_fonts",
]
