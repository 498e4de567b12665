"""Model: architecture, training curves, metrics per decoder and errors per character."""

import streamlit as st

from hwr import ui
from hwr.plots import char_errors_figure, curves_figure

st.title("The model")
card = ui.model_card()
meta = card.metadata
st.markdown(f"`{card.path.name}` · hwr {meta.get('hwr_version', '?')} · Keras {meta.get('keras_version', '?')} "
            f"({meta.get('backend', '?')} backend)")

st.subheader("Metrics per decoder")
table = ui.metrics_table(card)
if table is None:
    st.info("This model's metadata holds no evaluation metrics.")
else:
    labels = {"word_accuracy": "word accuracy", "cer": "CER", "wer": "WER",
              "char_accuracy_positional": "characters right (positional)"}
    columns = {c: st.column_config.NumberColumn(label, format="percent")
               for c, label in labels.items() if c in table}
    columns["images"] = st.column_config.NumberColumn("images", format="%d")
    columns["word_accuracy_interval"] = st.column_config.TextColumn("word accuracy, 95% interval")
    columns["cer_interval"] = st.column_config.TextColumn("CER, 95% interval")
    st.dataframe(table, column_config=columns)
    st.caption("Word accuracy: names read exactly. CER and WER: character and word edits over the "
               "truth's characters and words. Positional: characters equal at the same place. "
               "Intervals: how far a figure could move on another draw of images like these (a bootstrap "
               "over the evaluation images).")

st.subheader("Training")
history_file = ui.sibling_file(card, "history_csv")
history = ui.read_csv(history_file) if history_file else None
if history is None or history.empty:
    st.info("No training history was saved with this model.")
else:
    st.pyplot(curves_figure(history), width="stretch")
training = ui.training_record(card)
if training:
    with st.expander("Training run (data, time, hardware, command)"):
        st.json(training)

st.subheader("Errors per character")
per_char = meta.get("per_character")
if not isinstance(per_char, dict) or not per_char:
    st.info("No per-character errors were saved with this model.")
else:
    min_count = st.slider("Only characters seen at least this often", 1, 50, 5, key="model_min_count")
    st.pyplot(char_errors_figure(per_char, min_count), width="stretch")

st.subheader("Architecture")
spec_col, layers_col = st.columns([1, 2])
spec_col.dataframe(ui.spec_table(card), hide_index=True)
report = ui.sibling_file(card, "report")
if report:
    with st.expander(f"Training report ({report.name})"):
        st.markdown(ui.report_markdown(report))

with layers_col:  # the layers come from the model itself: the part of the page that waits for it
    rec = card.recognizer()
    st.dataframe(ui.layer_table(rec), hide_index=True, height=420)
    trainable, frozen = rec.parameter_counts
    st.caption(f"{trainable + frozen:,} parameters: {trainable:,} trainable, {frozen:,} non-trainable "
               f"(batch-normalisation statistics); read with {getattr(rec, 'runtime', 'keras')}. "
               + ui.variants_note(rec))
