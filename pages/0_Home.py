"""Home: what the model is and does, its headline figures (from its metadata) and the way to the pages."""

import streamlit as st

from hwr import ui

st.title("Reading handwritten names")
st.markdown(
    "This app reads **handwritten names** the way they appear on paper forms: one line, in capitals "
    "or not (it answers in capitals), written by hand. A **CRNN** does the reading: convolution "
    "layers look at strokes, bidirectional recurrent layers read the line from left to right, and "
    "the network gives, for every thin vertical slice of the image (a *timestep*), a probability "
    "for each letter and for *nothing here*. "
    "It was trained with **CTC**, which lets it learn from whole names without being told where "
    "each letter is; a decoder turns the probabilities into text."
)
card = ui.model_card()

st.subheader("How well it reads")
best = ui.headline(card)
if best is None:
    st.info("This model's metadata holds no evaluation metrics; run `python -m hwr.evaluate` to add them.")
else:
    decoder, scores = best
    cols = st.columns(4)
    spread = ui.interval_notes(card, decoder)
    cols[0].metric("Names read exactly", f"{scores.get('word_accuracy', float('nan')):.1%}", border=True,
                   help=spread.get("word_accuracy"))
    cols[1].metric("Character error rate", f"{scores.get('cer', float('nan')):.1%}", border=True,
                   help=spread.get("cer"))
    cols[2].metric("Characters right (positional)",
                   f"{scores.get('char_accuracy_positional', float('nan')):.1%}", border=True)
    cols[3].metric("Evaluation images", f"{int(scores.get('images', 0)):,}", border=True)
    evaluation = card.metadata.get("evaluation")
    where = ""
    if isinstance(evaluation, dict) and "selection" in evaluation:
        where = f" ({evaluation['selection']})"
    st.caption(f"With the **{decoder}** decoder, on evaluation images{where} the model never trained on. "
               "Every decoder is compared on the Model page.")

about = st.empty()  # the model's make-up comes from the model itself: filled once it has loaded
training = ui.training_record(card)
if training:
    with st.expander("How it was trained"):
        st.json(training)

st.subheader("Try it")
for path, title, icon, what in ui.PAGES[1:]:
    link, text = st.columns([1, 4])
    link.page_link(path, label=title, icon=icon)
    text.markdown(what)

rec = card.recognizer()  # the links above are already on the screen while this waits
spec = rec.spec
about.markdown(
    f"**The model** reads a {spec.height} × {spec.width} gray image in {spec.timesteps} timesteps "
    f"over {len(rec.alphabet.chars)} characters (`{rec.alphabet.chars}`) plus the CTC blank; "
    f"{sum(rec.parameter_counts):,} parameters, file `{card.path.name}`.")
