"""Errors: browse the evaluation set's mistakes, filter and sort them, and inspect one in detail."""

import math

import streamlit as st

from hwr import ui
from hwr.data import DataError
from hwr.folders import SAMPLE_NAME
from hwr.metrics import score
from hwr.plots import SPACE_LABEL

PAGE_SIZE = 20

st.title("Where the model goes wrong")
card = ui.model_card()

folders = ui.data_folders()
source_col, decoder_col = st.columns([3, 1], vertical_alignment="bottom")
# visitors choose among the folders the operator lists, by name; a path is never typed, and a
# forged session value that is not one of the names falls back to the first (Streamlit's own check)
name = source_col.selectbox("Evaluation images", list(folders), key="errors_source",
                            format_func=lambda n: "the sample bundled with the project"
                            if n == SAMPLE_NAME else n, disabled=len(folders) == 1,
                            help="The folders of labelled images this server offers.")
with decoder_col:
    decoder = ui.decoder_select(card, key="errors_decoder")
root = folders[name]
try:
    samples, folder = ui.evaluation_samples(root, name)
except DataError as err:
    st.error(f"**That folder cannot be used.** {err}", icon=":material/folder_open:")
    st.stop()

table = ui.committed_predictions(card) if name == SAMPLE_NAME else None
if table is not None:
    st.caption(f"Predictions from the model's evaluation file "
               f"`{card.metadata['evaluation_predictions']}`; the decoder applies to the detail view.")
else:
    limit = len(samples)
    if len(samples) > 500:
        limit = st.number_input(f"Images to read (of {len(samples):,})", 50, len(samples), 500, step=50,
                                key="errors_limit")
    table = ui.predict_samples(card.recognizer(), samples[:limit], decoder)
if table.empty:
    st.warning("None of the evaluation images could be read.")
    st.stop()

wrong = int((table["truth"] != table["prediction"]).sum())
st.markdown(f"**{wrong:,}** of **{len(table):,}** names read wrong "
            f"(CER {score(table['truth'], table['prediction']).cer:.1%}).")

f1, f2, f3, f4 = st.columns(4)
top_cer = max(1.0, math.ceil(float(table["cer"].max()) * 20) / 20)
cer_range = f1.slider("CER", 0.0, top_cer, (0.0, top_cer), step=0.05, key="errors_cer")
longest = max(2, int(table["truth"].str.len().max()))
length_range = f2.slider("Name length", 1, longest, (1, longest), key="errors_length")
char = f3.selectbox("Character involved in an error", [""] + list(card.alphabet.chars), key="errors_char",
                    format_func=lambda c: "any" if c == "" else (f"{SPACE_LABEL} (space)" if c == " " else c))
sort = f4.selectbox("Sort by", list(ui.SORTS), key="errors_sort")
include_correct = st.checkbox("Include names read correctly", key="errors_correct")
shown = ui.filter_errors(table, cer_range, length_range, char, include_correct, sort)
if shown.empty:
    st.info("No row matches these filters.", icon=":material/filter_alt_off:")
    st.stop()

pages = math.ceil(len(shown) / PAGE_SIZE)
st.caption(f"{len(shown):,} rows match; page size {PAGE_SIZE}.")
page = st.pagination(pages, key=f"errors_page_{len(shown)}") if pages > 1 else 1
rows = shown.iloc[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
rows = rows.assign(image=[ui.data_uri(folder / f) for f in rows["filename"]])
st.dataframe(rows[["image", "filename", "truth", "prediction", "cer", "confidence"]], hide_index=True,
             row_height=ui.THUMB_SIZE[1] + 8, height=(len(rows) + 1) * (ui.THUMB_SIZE[1] + 8) + 3,
             column_config={
                 "image": st.column_config.ImageColumn("scan", width=ui.THUMB_SIZE[0] + 16),
                 "cer": st.column_config.NumberColumn("CER", format="%.2f"),
                 "confidence": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})

st.subheader("Look closer")
labels = {f: f"{f}: {t} → {p or '(nothing)'}" for f, t, p in
          zip(rows["filename"], rows["truth"], rows["prediction"])}
chosen = st.selectbox("Row", list(labels), format_func=labels.get, key="errors_row")
truth = rows.loc[rows["filename"] == chosen, "truth"].iloc[0]
st.image(str(folder / chosen), caption=f"{chosen} as scanned; the label says {truth}")

rec = card.recognizer()  # the table and filters above are already on the screen while this waits
pred = ui.read_file(rec, folder / chosen, decoder)
if pred is not None:
    ui.show_prediction(rec, pred)
