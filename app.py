"""The app's entry: page settings, the model's background load, and the menu of pages.

Run with ``streamlit run app.py``; ``HWR_MODEL=path/to/model.keras`` picks another model file,
``HWR_DATA_DIRS=name=path`` lists data folders the Errors page may offer (README, "Putting the app
online"). Every page is a file in ``pages/``; this script runs before each of them, so the model
starts loading at a visitor's first request, whichever page it opens, and the page draws meanwhile.
"""

import streamlit as st

from hwr import ui

st.set_page_config(page_title="hwr · handwritten names", page_icon=":material/draw:", layout="wide")
ui.start_loading()
ui.navigation().run()
