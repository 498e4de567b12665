"""Home: what the model is and does, its headline figures (from its metadata) and the way to the pages.

Run with ``streamlit run app.py``; ``HWR_MODEL=path/to/model.keras`` picks another model file.
"""

import streamlit as st

from hwr import ui

ui.page_setup("Handwritten names", ":material/draw:")
st.title("Reading handwritten names")
st.markdown(
    "This app reads **handwritten names** the way they appear on paper forms: one line of capitals, "
    "written by hand. A **CRNN** does the reading: convolution layers look at strokes, bidirectional "
    "recurrent layers read the line from left to right, and the network gives, for every thin "
    "vertical slice of the image (a *timestep*), a probability for each letter and for *nothing here*. "
    "It was trained with **CTC**, which lets it learn from whole names without being told where "
    "each letter is; a decoder turns the probabilities into text."
)
rec = ui.recognizer()

st.subheader("How well it reads")
best = ui.headline(rec)
if best is None:
    st.info("This model's metadata holds no evaluation metrics; run `python -m hwr.evaluate` to add them.")
else:
    decoder, scores = best
    cols = st.columns(4)
    cols[0].metric("Names read exactly", f"{scores.get('word_accuracy', float('nan')):.1%}", border=True)
    cols[1].metric("Character error rate", f"{scores.get('cer', float('nan')):.1%}", border=True)
    cols[2].metric("Characters right (positional)",
                   f"{scores.get('char_accuracy_positional', float('nan')):.1%}", border=True)
    cols[3].metric("Evaluation images", f"{int(scores.get('images', 0)):,}", border=True)
    evaluation = rec.metadata.get("evaluation")
    where = ""
    if isinstance(evaluation, dict) and "selection" in evaluation:
        where = f" ({evaluation['selection']})"
    st.caption(f"With the **{decoder}** decoder, on evaluation images{where} the model never trained on. "
               "Every decoder is compared on the Model page.")

spec = rec.spec
st.markdown(
    f"**The model** reads a {spec.height} × {spec.width} gray image in {spec.timesteps} timesteps "
    f"over {len(rec.alphabet.chars)} characters (`{rec.alphabet.chars}`) plus the CTC blank; "
    f"{sum(rec.parameter_counts):,} parameters, file `{rec.path.name if rec.path else '?'}`."
)
training = rec.metadata.get("training")
if isinstance(training, dict) and training:
    with st.expander("How it was trained"):
        st.json(training)

st.subheader("Try it")
pages = [
    ("pages/1_Draw.py", "Draw", ":material/draw:",
     "write a name with the mouse, a pen or a finger and watch it read"),
    ("pages/2_Upload.py", "Upload", ":material/upload_file:",
     "read your own scans or photos, one or many, and download a CSV"),
    ("pages/3_Errors.py", "Errors", ":material/manage_search:",
     "browse the mistakes on the evaluation set, filter and inspect them"),
    ("pages/4_Model.py", "Model", ":material/memory:",
     "architecture, training curves, metrics per decoder and per character"),
]
for cols, (path, label, icon, what) in zip([st.columns([1, 4]) for _ in pages], pages):
    cols[0].page_link(path, label=label, icon=icon)
    cols[1].markdown(what)
