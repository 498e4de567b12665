"""Upload: read one or several images (PNG/JPEG, any size, colour or gray) in one batch, or a photo."""

import streamlit as st

from hwr import ui

#: what a camera photo is called in the results and the CSV
PHOTO_NAME = "camera photo"

st.title("Read your own images")
card = ui.model_card()
st.markdown("Upload scans or photos of handwritten names, one name per image, or take a photo with "
            "the camera. Any size, colour or gray: each is cropped to its ink and scaled the way the "
            "training images were.")

left, right = st.columns([3, 1], vertical_alignment="bottom")
# no type= filter: a wrong file gets the reader's own message rather than Streamlit's exception
files = left.file_uploader("Images (PNG or JPEG)", accept_multiple_files=True, key="upload_files")
with right:
    decoder = ui.decoder_select(card, key="upload_decoder")
photo = None
# behind a switch: the camera widget asks the browser for the camera as soon as it is drawn
if st.toggle("Take a photo with the camera", key="upload_camera_on", help="A name written on paper, "
             "filling the width of the picture, in good light."):
    photo = st.camera_input("Photo of a handwritten name", key="upload_camera")
sources = [(f.name, f.getvalue()) for f in files or []]
if photo is not None:
    sources.append((PHOTO_NAME, photo.getvalue()))
if not sources:
    st.info("Choose one or more PNG or JPEG images to read, or take a photo.", icon=":material/upload_file:")
    ui.loading_note(card)
    st.stop()

rec = card.recognizer()
with st.spinner(f"Reading {len(sources)} image{'s' * (len(sources) > 1)}…"):
    results = ui.read_uploads(rec, sources, decoder)
bad = [r for r in results if r.error]
for r in bad:
    st.error(f"**{r.name}** cannot be read: {r.error}", icon=":material/broken_image:")
good = [r for r in results if r.prediction]
if not good:
    st.stop()

st.subheader(f"Read {len(good)} of {len(results)} image{'s' * (len(results) > 1)}")
st.download_button("Download the results (CSV)", ui.uploads_csv(results), file_name="readings.csv",
                   mime="text/csv", key="upload_download", icon=":material/download:")
for i, r in enumerate(good):
    with st.container(border=True):
        st.markdown(f"##### {r.name}")
        thumb = ui.preview(r.data)
        if thumb is None:
            st.caption("The original is too large to preview; the model read a reduced copy.")
        else:
            st.image(thumb, caption="As uploaded")
        ui.show_result(r.prediction)
        details = st.expander("Per-timestep probabilities and alternatives", expanded=i == 0,
                              key=f"upload_details_{i}_{r.name}", on_change="rerun")
        if details.open:
            with details:
                ui.show_details(rec, r.prediction)
