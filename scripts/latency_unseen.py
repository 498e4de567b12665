"""One image end to end (file bytes → text) with the model's default decoder, per kind of image.

    python scripts/latency_unseen.py --model models/crnn.keras

Times ``Recognizer.read`` on single images — a Kaggle crop, a canvas drawing (880×220 RGBA), a
phone photo (1000–1400 px JPEG) and the same photos at a phone camera's 12 Mpixel (enlarged to
4032 px on the long side and saved as JPEG at quality 90, in memory) — after a warm-up, and splits
off the preprocessing. Prints the median and 90th percentile and how many of the names were read
right, and writes them, with the machine's load average, to ``reports/unseen/latency.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwr import atomic, config  # noqa: E402
from hwr.bench import _ms, _timed, machine_info  # noqa: E402
from hwr.data import read_labels  # noqa: E402
from hwr.preprocess import preprocess  # noqa: E402
from hwr.recognizer import load_recognizer  # noqa: E402

KINDS = {
    "kaggle crop": sorted((config.BUNDLED_DATA / "validation_v2" / "validation").glob("VALIDATION_1*.jpg")),
    "canvas 880x220": sorted((config.ROOT / "data" / "unseen" / "canvas" / "test_v2" / "test").glob("*.png")),
    "phone photo": sorted((config.ROOT / "data" / "unseen" / "photo" / "test_v2" / "test").glob("*.jpg")),
}


#: a phone camera's long side (4032 × 3024, 12 Mpixel)
PHONE_SIDE = 4032


def _labels(files: list[Path]) -> dict[str, str]:
    """FILENAME → IDENTITY for images in a Kaggle-layout folder (ROOT/SPLIT_v2/SPLIT/)."""
    if not files:
        return {}
    labels = read_labels(files[0].parents[2], files[0].parent.name)
    return dict(zip(labels["FILENAME"], labels["IDENTITY"]))


def _as_phone_photo(data: bytes) -> bytes:
    """A photo enlarged to a phone camera's size and saved as its camera would (JPEG, quality 90)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    scale = PHONE_SIDE / max(image.shape[:2])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _percentiles(times: list[float]) -> dict[str, float]:
    return {"median_ms": _ms(times), "p90_ms": _ms(times, 90)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=config.DEFAULT_MODEL)
    parser.add_argument("-n", type=int, default=30, help="images per kind (default: %(default)s)")
    args = parser.parse_args(argv)
    rec = load_recognizer(args.model)
    decoder = rec.metadata.get("decoder_default", "greedy")
    result = {"model": str(args.model), "decoder": decoder, "machine": machine_info(),
              "load_average_before": os.getloadavg(), "kinds": {}}
    kinds = {kind: files[: args.n] for kind, files in KINDS.items()}
    kinds["phone photo 12 Mpixel"] = kinds["phone photo"]
    for kind, files in kinds.items():
        if not files:
            print(f"skipped {kind}: no images (see README 'Unseen images')", file=sys.stderr)
            continue
        data = [f.read_bytes() for f in files]
        if kind.endswith("12 Mpixel"):
            data = [_as_phone_photo(d) for d in data]
        truth = _labels(files)
        right = sum(p.text == truth.get(f.name) for f, p in
                    zip(files, (rec.read([d], decoder)[0] for d in data)))  # also the warm-up
        reads, preps = iter(data), iter(data)
        total = _percentiles(_timed(lambda: rec.read([next(reads)], decoder), len(data), warmup=0))
        prep = _percentiles(_timed(lambda: preprocess(next(preps)), len(data), warmup=0))
        result["kinds"][kind] = {"images": len(data), "read_right": right, "end_to_end": total,
                                 "preprocess": prep}
        print(f"{kind:21s} end to end {total['median_ms']:.1f} ms (p90 {total['p90_ms']:.1f}), "
              f"of which preprocess {prep['median_ms']:.1f} ms; {right} of {len(data)} read right  [{decoder}]")
    result["load_average_after"] = os.getloadavg()
    atomic.write_json(config.ROOT / "reports" / "unseen" / "latency.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
