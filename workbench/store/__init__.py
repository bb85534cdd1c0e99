"""The run store: every image as a PNG that carries its own provenance, catalogued in SQLite.

- `record.py`: `GenerationRequest` (what decides the pixels; its key is the content address)
  and `ImageRecord` (the request plus provenance).
- `png.py`: PNG metadata: A1111 `parameters`, the full record as JSON, XMP with the IPTC
  "trainedAlgorithmicMedia" marker; `read_png_metadata` also reads A1111, ComfyUI,
  InvokeAI and Fooocus PNGs (via `peers.py`; infotext in `infotext.py`).
- `catalogue.py`: `RunStore`, the folder of PNGs plus `catalogue.sqlite`, safe to share
  between kernels, with an embedding cache and `rebuild()` from the PNGs; the SQLite side
  (WAL, busy timeout, schema version, error messages) is in `database.py`; file names and
  keys of stored images in `file_names.py`.

No torch here: the store stays light enough to import anywhere.
"""

from workbench.store.catalogue import RunStore, StoredImage
from workbench.store.errors import MetadataError, StoreError
from workbench.store.infotext import format_infotext, parse_infotext
from workbench.store.png import png_info, read_png_metadata
from workbench.store.record import GenerationRequest, ImageRecord

__all__ = [
    "RunStore", "StoredImage", "GenerationRequest", "ImageRecord", "read_png_metadata", "png_info",
    "format_infotext", "parse_infotext", "StoreError", "MetadataError",
]
