"""PNG files that say what made them: writing and reading generation metadata.

Every PNG the workbench writes carries three text chunks:

- `parameters` (tEXt, or iTXt when the text is not Latin-1, as A1111 does): A1111 infotext,
  so A1111, Fooocus, civitai and friends read our prompt, seed and settings.
- `workbench` (iTXt): the full `ImageRecord` as JSON, so reading it back restores the exact
  request and its provenance.
- `XML:com.adobe.xmp` (iTXt): an XMP packet with the IPTC marker
  `Iptc4xmpExt:DigitalSourceType = trainedAlgorithmicMedia` (the standard "made by AI"
  flag), the prompt as `dc:description` and the software as `xmp:CreatorTool`.

`read_png_metadata(path)` reads ours and the PNGs written by AUTOMATIC1111, ComfyUI, InvokeAI
and Fooocus (see `peers.py`). Files are written atomically (`save_png`, `copy_file`): to a
temporary file in the same folder, fsync, then `os.replace`, so a crash never leaves a
half-written PNG under its final name.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from workbench.store import peers
from workbench.store.errors import MetadataError
from workbench.store.infotext import format_infotext, infotext_fields, parse_infotext  # noqa: F401 (re-export)
from workbench.store.record import ImageRecord

PARAMETERS_KEY = "parameters"
WORKBENCH_KEY = "workbench"
RUN_KEY = "workbench_run"  # the run an image was first made in, so rebuild() can regroup runs
XMP_KEY = "XML:com.adobe.xmp"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
TEMP_PREFIX = ".tmp-"  # unfinished writes; never catalogued, removed by RunStore.rebuild()

# Characters XML 1.0 does not allow, even escaped (NUL and most C0 controls, lone surrogates).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --- writing -------------------------------------------------------------------------------


def png_bytes(image) -> bytes:
    """A PIL image as PNG bytes: what Jupyter shows (`_repr_png_`) and widgets display."""
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def xml_text(text: str) -> str:
    """User text made safe as XML character data: escaped, and invalid characters dropped."""
    return escape(_XML_INVALID.sub("", text), {'"': "&quot;"})


def xmp_packet(record: ImageRecord) -> str:
    """An XMP packet marking the image as AI-generated (IPTC), with its prompt and software."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">\n'
        f"   <Iptc4xmpExt:DigitalSourceType>{TRAINED_ALGORITHMIC_MEDIA}</Iptc4xmpExt:DigitalSourceType>\n"
        f"   <xmp:CreatorTool>{xml_text(record.software)}</xmp:CreatorTool>\n"
        f"   <xmp:CreateDate>{xml_text(record.created)}</xmp:CreateDate>\n"
        "   <dc:description>\n"
        "    <rdf:Alt>\n"
        f'     <rdf:li xml:lang="x-default">{xml_text(record.request.prompt)}</rdf:li>\n'
        "    </rdf:Alt>\n"
        "   </dc:description>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def png_info(record: ImageRecord, run_info: dict | None = None) -> PngInfo:
    """The PNG text chunks for `record`: A1111 `parameters`, our `workbench` JSON, and XMP."""
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, format_infotext(infotext_fields(record)))
    info.add_itxt(WORKBENCH_KEY, record.to_json())
    info.add_itxt(XMP_KEY, xmp_packet(record))
    if run_info:
        info.add_itxt(RUN_KEY, json.dumps(run_info, ensure_ascii=False, sort_keys=True))
    return info


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call `write(file)` on a temporary file beside `path`, fsync it, then move it into place."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; images are for sharing
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_png(image: Image.Image, path: str | os.PathLike, record: ImageRecord, run_info: dict | None = None) -> Path:
    """Write `image` as a PNG carrying `record`, atomically."""
    info = png_info(record, run_info)
    return atomic_write(path, lambda file: image.save(file, format="PNG", pnginfo=info))


def copy_file(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy a file byte for byte, atomically, with its modification time: a peer's PNG records
    when it was made by that time alone (see `_file_time`)."""
    data, stat = Path(source).read_bytes(), Path(source).stat()
    atomic_write(path, lambda file: file.write(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return Path(path)


# --- reading -------------------------------------------------------------------------------


def png_text(path: str | os.PathLike) -> tuple[dict[str, str], tuple[int, int]]:
    """All text chunks (tEXt, zTXt, iTXt) of a PNG, and its size."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise MetadataError(f"{path} is a {image.format} image, not a PNG; only PNG metadata is read")
            return {str(k): str(v) for k, v in image.text.items()}, image.size
    except FileNotFoundError:
        raise MetadataError(f"{path} does not exist") from None
    except (UnidentifiedImageError, SyntaxError, OSError) as error:
        raise MetadataError(f"{path} is not a readable PNG ({error})") from None
    except (ValueError, Image.DecompressionBombError) as error:  # a text chunk or a size past Pillow's limits
        raise MetadataError(f"{path} is too large to read safely ({error})") from None


def read_run_info(path: str | os.PathLike) -> dict | None:
    """The run an image was first made in, as saved by the store; None when absent."""
    text, _ = png_text(path)
    try:
        info = json.loads(text[RUN_KEY]) if RUN_KEY in text else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _file_time(path: Path) -> str:
    """The file's modification time as ISO-8601 UTC: the best guess at when a peer made it."""
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def _json(text: str, path: Path, chunk: str):
    try:
        return json.loads(text)
    except ValueError as error:
        raise MetadataError(f"{path}: the '{chunk}' chunk is not valid JSON ({error})") from None


def read_png_metadata(path: str | os.PathLike) -> ImageRecord:
    """The generation record of a PNG written by the workbench, A1111, ComfyUI, InvokeAI or Fooocus.

    A workbench PNG restores exactly (from its `workbench` chunk). Peers' PNGs give what they
    recorded; see `peers.py` for the defaults used where they recorded nothing.
    """
    path = Path(path)
    text, size = png_text(path)
    try:
        record = _record(text, size, path)
        if record is not None:
            return _usable(record)
    except MetadataError as error:
        if str(path) in str(error):
            raise
        raise MetadataError(f"{path}: {error}") from None
    except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as error:  # odd JSON from a peer
        raise MetadataError(f"{path}: its generation metadata is malformed ({type(error).__name__}: {error})") from None

    found = ", ".join(sorted(text)) or "no text chunks at all"
    raise MetadataError(
        f"{path} carries no generation metadata we can read. Looked for the PNG text chunks "
        "'workbench' (Prompt Workbench), 'parameters' (AUTOMATIC1111; with 'fooocus_scheme': Fooocus), "
        "'prompt' (ComfyUI API graph) and 'invokeai_metadata' / 'sd-metadata' (InvokeAI); "
        f"found: {found}. Was the metadata stripped (e.g. by an image editor or a web upload)?"
    )


def _record(text: dict[str, str], size: tuple[int, int], path: Path) -> ImageRecord | None:
    """The record from whichever tool's chunks the PNG carries; None when it carries none."""
    # 1. Ours: the full record.
    if WORKBENCH_KEY in text:
        return ImageRecord.from_dict(_json(text[WORKBENCH_KEY], path, WORKBENCH_KEY))
    created = _file_time(path)
    # 2. InvokeAI.
    if "invokeai_metadata" in text:
        return peers.from_invokeai(_json(text["invokeai_metadata"], path, "invokeai_metadata"), size, created)
    if "sd-metadata" in text:
        return peers.from_invokeai_legacy(_json(text["sd-metadata"], path, "sd-metadata"), size, created)
    # 3. ComfyUI: the API graph (the `workflow` chunk is the UI graph; we do not need it).
    if "prompt" in text:
        try:
            graph = json.loads(text["prompt"])
        except ValueError:
            graph = None
        if peers.is_comfyui_graph(graph):
            return peers.from_comfyui(graph, size, created)
    # 4. Fooocus, then A1111.
    if PARAMETERS_KEY in text and "fooocus_scheme" in text:
        return peers.from_fooocus(text[PARAMETERS_KEY], text["fooocus_scheme"], size, created)
    if PARAMETERS_KEY in text:
        return peers.from_a1111(text[PARAMETERS_KEY], size, created)
    return None


def _usable(record: ImageRecord) -> ImageRecord:
    """The record, once it can be keyed, named and catalogued: a peer's (or a hand-edited) PNG may
    carry a seed of text, a prompt of numbers or a broken character, and must then be refused
    by name, not fail a whole import or rebuild."""
    request = record.request
    for name in ("model", "prompt", "negative_prompt", "scheduler", "scheduler_settings", "step_noise", "adapters"):
        if not isinstance(getattr(request, name), str):
            raise TypeError(f"{name} is {type(getattr(request, name)).__name__}, not text")
    for name in ("seed", "steps", "width", "height"):
        value = getattr(request, name)
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"{name} is {value!r}, not a whole number")
    for name, value in (("guidance", request.guidance), ("variation_strength", request.variation_strength),
                        ("duration_s", record.duration_s)):
        if not math.isfinite(float(value)):  # JSON has no NaN: `store list --json` would write what others refuse
            raise ValueError(f"{name} is {value!r}, not a finite number")
    if not isinstance(record.created, str):
        raise TypeError(f"created is {type(record.created).__name__}, not text")
    record.to_json().encode("utf-8")  # a lone surrogate (half an emoji) cannot be stored
    record.key  # noqa: B018 - keying checks the rest of the request
    return record
