"""Draw: write a name on a canvas and see what the model reads, and why.

The canvas gives no pixels under AppTest: a test puts an RGBA array in
``st.session_state["draw_image_override"]`` instead.
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from hwr import ui
from hwr.preprocess import ImageError

OVERRIDE = "draw_image_override"

st.title("Draw a name")
card = ui.model_card()
st.markdown("Write a name on the white area, with the mouse, a pen or a finger (capitals read best; "
            "\"Marie\" is read as MARIE); "
            "it is read every time you lift the pen. The canvas' toolbar (top right) undoes a stroke.")

st.session_state.setdefault("draw_canvas_version", 0)
controls = st.columns([4, 4, 3, 3], vertical_alignment="bottom")
stroke = controls[0].slider("Stroke width", 2, 30, 8, key="draw_stroke")
with controls[1]:
    decoder = ui.decoder_select(card, key="draw_decoder")
with controls[2]:
    width, height = ui.canvas_select(key="draw_canvas_size")


def clear() -> None:
    st.session_state["draw_canvas_version"] += 1  # a new key is a new, empty canvas
    st.session_state.pop(OVERRIDE, None)


controls[3].button("Clear the canvas", key="draw_clear", icon=":material/ink_eraser:", on_click=clear)
st.write("")  # room for the canvas' own toolbar, which floats above its top right corner

canvas = st_canvas(stroke_width=stroke, stroke_color="#000000", background_color="#FFFFFF",
                   height=height, width=width, drawing_mode="freedraw", return_image_data=True,
                   key=f"draw_canvas_{st.session_state['draw_canvas_version']}_{width}x{height}")
drawing = st.session_state.get(OVERRIDE)
if drawing is None:
    drawing = canvas.image_data
try:
    x = None if drawing is None else ui.drawing_input(card, drawing)
except ImageError as err:
    st.error(f"The drawing could not be read: {err}")
    st.stop()
if x is None:
    st.info("The canvas is empty: write a name above to see it read.", icon=":material/draw:")
    ui.loading_note(card)
    st.stop()

rec = card.recognizer()
ui.show_prediction(rec, rec.read_arrays(x[None], decoder)[0])
