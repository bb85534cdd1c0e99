"""PNG metadata: our own chunks round-trip; A1111, ComfyUI, InvokeAI and Fooocus PNGs are read.

The peers' PNGs are built (in store_helpers.py) with the chunk layout each tool writes.
"""

import json
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from store_helpers import (
    A1111_TEXT,
    COMFY_GRAPH,
    COMFY_WORKFLOW,
    FOOOCUS_JSON,
    INVOKE_METADATA,
    make_record,
    peer_png,
    tiny_image,
)

from workbench.store import MetadataError, parse_infotext, read_png_metadata
from workbench.store.png import TRAINED_ALGORITHMIC_MEDIA, XMP_KEY, png_info, save_png

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
}


# --- ours --------------------------------------------------------------------------------------


def test_a_workbench_png_restores_the_exact_record(tmp_path):
    record = make_record(7, prompt="ünïcødé prompt, 猫, with: colon\nand a newline",
                         variation_seed=99, variation_strength=0.35)
    path = save_png(tiny_image(7), tmp_path / "x.png", record)
    restored = read_png_metadata(path)
    assert restored == record
    assert restored.request.modifiers == (("render_engines", "octane-render"),)
    assert restored.key == record.key


def test_the_parameters_chunk_is_a1111_infotext(tmp_path):
    record = make_record(123, variation_seed=9, variation_strength=0.3)
    path = save_png(tiny_image(0), tmp_path / "x.png", record)
    text = Image.open(path).text["parameters"]
    assert text.splitlines()[1] == "Negative prompt: blurry"
    assert text.splitlines()[-1] == (
        "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 123, Size: 32x32, Model hash: 9f9f9f9f9f, "
        "Model: toyworld, Variation seed: 9, Variation seed strength: 0.3, Version: Prompt Workbench 0.2.0"
    )
    assert parse_infotext(text)["Prompt"] == record.request.prompt


def test_xmp_carries_the_iptc_ai_marker_and_escaped_text(tmp_path):
    nasty = '<x> & "y" </rdf:li><script>'
    record = make_record(1, prompt=nasty + "\x00\x07 end")
    path = save_png(tiny_image(1), tmp_path / "x.png", record)
    xmp = Image.open(path).text[XMP_KEY]
    assert xmp.startswith("<?xpacket begin=")
    root = ET.fromstring(xmp.split("?>", 1)[1].rsplit("<?xpacket", 1)[0])  # well-formed XML
    description = root.find(".//rdf:Description", NS)
    assert description.find("Iptc4xmpExt:DigitalSourceType", NS).text == TRAINED_ALGORITHMIC_MEDIA
    assert description.find("xmp:CreatorTool", NS).text == record.software
    assert description.find("dc:description/rdf:Alt/rdf:li", NS).text == nasty + " end"  # controls dropped
    assert "<script>" not in xmp


def test_png_info_holds_three_chunks():
    info = png_info(make_record(0))
    keys = {data.split(b"\0", 1)[0] for _, data, *_ in info.chunks}
    assert {b"parameters", b"workbench", XMP_KEY.encode()} <= keys


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    cmyk = Image.new("CMYK", (8, 8))  # PNG cannot hold CMYK, so Pillow fails mid-write
    with pytest.raises(OSError):
        save_png(cmyk, tmp_path / "x.png", make_record(0))
    assert list(tmp_path.iterdir()) == []


# --- peers -------------------------------------------------------------------------------------

def test_reads_automatic1111(tmp_path):
    record = read_png_metadata(peer_png(tmp_path / "00001-3405691582.png", {"parameters": A1111_TEXT}))
    r = record.request
    assert record.source == "a1111" and record.software == "AUTOMATIC1111 v1.10.1"
    assert r.prompt == "a photo of an astronaut riding a horse on mars, (masterpiece:1.2)"
    assert r.negative_prompt == "lowres, bad anatomy"
    assert (r.seed, r.steps, r.guidance, r.width, r.height) == (3405691582, 25, 7.0, 512, 768)
    assert r.scheduler == "EulerAncestralDiscreteScheduler"
    assert (r.variation_seed, r.variation_strength) == (12, 0.25)
    assert r.model == "v1-5-pruned-emaonly" and record.model_hash == "6ce0161689"
    assert record.extra["a1111"]["Lora hashes"] == "add_detail: 7c6bad76eb54"


def test_reads_comfyui_default_graph(tmp_path):
    path = peer_png(tmp_path / "ComfyUI_00001_.png",
                    {"prompt": json.dumps(COMFY_GRAPH), "workflow": json.dumps(COMFY_WORKFLOW)})
    record = read_png_metadata(path)
    r = record.request
    assert record.source == "comfyui"
    assert r.prompt == "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
    assert r.negative_prompt == "text, watermark"
    assert (r.seed, r.steps, r.guidance, r.width, r.height) == (156680208700286, 20, 8.0, 512, 512)
    assert r.scheduler == "euler" and r.model == "v1-5-pruned-emaonly.safetensors"


def test_reads_comfyui_with_lora_hires_pass_and_linked_seed(tmp_path):
    graph = json.loads(json.dumps(COMFY_GRAPH))
    graph["10"] = {"inputs": {"lora_name": "detail.safetensors", "strength_model": 0.8, "strength_clip": 0.8,
                              "model": ["4", 0], "clip": ["4", 1]}, "class_type": "LoraLoader"}
    graph["11"] = {"inputs": {"seed": 2**64 - 5}, "class_type": "Seed (rgthree)"}
    graph["12"] = {"inputs": {"upscale_method": "nearest-exact", "width": 1024, "height": 1024, "crop": "disabled",
                              "samples": ["3", 0]}, "class_type": "LatentUpscale"}
    graph["13"] = {"inputs": {"seed": ["11", 0], "steps": 12, "cfg": 8.0, "sampler_name": "dpmpp_2m",
                              "scheduler": "karras", "denoise": 0.5, "model": ["10", 0], "positive": ["6", 0],
                              "negative": ["7", 0], "latent_image": ["12", 0]}, "class_type": "KSampler"}
    graph["3"]["inputs"].update(seed=["11", 0], sampler_name="dpmpp_2m", scheduler="karras", model=["10", 0])
    graph["8"]["inputs"]["samples"] = ["13", 0]
    record = read_png_metadata(peer_png(tmp_path / "hires.png", {"prompt": json.dumps(graph)}))
    r = record.request
    assert record.extra["comfyui"]["sampler_node"] == "3"  # the full-denoise first pass
    assert (r.seed, r.steps, r.width, r.height) == (2**64 - 5, 20, 512, 512)
    assert r.scheduler == "dpmpp_2m karras" and r.model == "v1-5-pruned-emaonly.safetensors"


def test_reads_invokeai(tmp_path):
    path = peer_png(tmp_path / "b3c1.png", {"invokeai_metadata": json.dumps(INVOKE_METADATA),
                                            "invokeai_graph": json.dumps({"id": "g", "nodes": {}, "edges": []})})
    record = read_png_metadata(path)
    r = record.request
    assert record.source == "invokeai" and record.software == "InvokeAI 4.2.4"
    assert (r.prompt, r.negative_prompt) == ("a cozy cabin in the woods, golden hour", "blurry, low quality")
    assert (r.seed, r.steps, r.guidance, r.width, r.height) == (2024, 30, 6.5, 768, 512)
    assert r.model == "Juggernaut XL v9" and r.scheduler == "dpmpp_2m_k"
    assert record.model_hash == "blake3:9a1e7c0e2b" and record.extra["invokeai"]["rand_device"] == "cpu"


def test_reads_fooocus_json_scheme(tmp_path):
    path = peer_png(tmp_path / "fooocus.png", {"parameters": json.dumps(FOOOCUS_JSON), "fooocus_scheme": "fooocus"})
    record = read_png_metadata(path)
    r = record.request
    assert record.source == "fooocus" and record.software == "Fooocus v2.5.5"
    assert (r.prompt, r.negative_prompt) == ("a red fox in snow", "")
    assert (r.seed, r.steps, r.guidance, r.width, r.height) == (7141387612, 30, 4.0, 1152, 896)
    assert r.model == "juggernautXL_v8Rundiffusion" and r.scheduler == "dpmpp_2m_sde_gpu karras"


def test_reads_fooocus_json_with_older_labels(tmp_path):
    labels = {"Prompt": "a lighthouse at dusk", "Negative Prompt": "people", "Seed": "123", "Performance": "Quality",
              "Guidance Scale": 7, "Resolution": "(1024, 1024)", "Base Model": "sd_xl_base_1.0_0.9vae.safetensors",
              "Sampler": "dpmpp_2m_sde_gpu", "Scheduler": "karras", "Version": "Fooocus v2.1.865"}
    record = read_png_metadata(peer_png(tmp_path / "old.png", {"parameters": json.dumps(labels),
                                                               "fooocus_scheme": "json"}))
    r = record.request
    assert (r.prompt, r.negative_prompt, r.seed, r.steps) == ("a lighthouse at dusk", "people", 123, 60)
    assert (r.guidance, r.width, r.height) == (7.0, 1024, 1024)
    assert r.model == "sd_xl_base_1.0_0.9vae.safetensors"


def test_reads_fooocus_a1111_scheme(tmp_path):
    text = (
        "a red fox in snow, highly detailed, sharp focus\nNegative prompt: unrealistic, saturated\n"
        "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 7141387612, Size: 1152x896, CFG scale: 4, Sharpness: 2, "
        'ADM Guidance: "(1.5, 0.8, 0.3)", Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, '
        "Performance: Speed, Scheduler: karras, VAE: Default (model), Raw prompt: a red fox in snow, "
        "Raw negative prompt: , Version: Fooocus v2.5.5"
    )
    record = read_png_metadata(peer_png(tmp_path / "f.png", {"parameters": text, "fooocus_scheme": "a1111"}))
    r = record.request
    assert record.source == "fooocus" and record.software == "Fooocus v2.5.5"
    assert (r.prompt, r.negative_prompt) == ("a red fox in snow", "")
    assert (r.seed, r.steps, r.guidance, r.width, r.height) == (7141387612, 30, 4.0, 1152, 896)


def test_missing_fields_fall_back_to_the_image_size_and_unknown_seed(tmp_path):
    text = "a cat\nSteps: 10, Sampler: Euler, CFG scale: 5"
    record = read_png_metadata(peer_png(tmp_path / "x.png", {"parameters": text}, size=(40, 24)))
    assert (record.request.width, record.request.height, record.request.seed) == (40, 24, -1)


# --- errors ------------------------------------------------------------------------------------


def test_a_png_without_metadata_names_the_file_and_what_was_looked_for(tmp_path):
    path = peer_png(tmp_path / "plain.png", {"Software": "GIMP"})
    with pytest.raises(MetadataError) as error:
        read_png_metadata(path)
    message = str(error.value)
    assert str(path) in message
    for chunk in ("'workbench'", "'parameters'", "'prompt'", "'invokeai_metadata'", "found: Software"):
        assert chunk in message


def test_not_a_png_or_missing_or_broken(tmp_path):
    tiny_image(0).save(tmp_path / "a.jpg", format="JPEG")
    with pytest.raises(MetadataError, match=r"a\.jpg is a JPEG image, not a PNG"):
        read_png_metadata(tmp_path / "a.jpg")
    with pytest.raises(MetadataError, match="does not exist"):
        read_png_metadata(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(MetadataError, match="junk.png is not a readable PNG"):
        read_png_metadata(tmp_path / "junk.png")
    peer_png(tmp_path / "badjson.png", {"workbench": "{not json"})
    with pytest.raises(MetadataError, match="badjson.png: the 'workbench' chunk is not valid JSON"):
        read_png_metadata(tmp_path / "badjson.png")


def test_long_seeds_from_peers_are_kept_to_the_digit(tmp_path):
    """Fooocus writes its seed as text and goes to 2**63 - 1; through float it would change."""
    fooocus = {**FOOOCUS_JSON, "seed": "8765432109876543210"}
    record = read_png_metadata(peer_png(tmp_path / "f.png", {"parameters": json.dumps(fooocus),
                                                             "fooocus_scheme": "fooocus"}))
    assert record.request.seed == 8765432109876543210
    text = "a cat\nSteps: 20.0, Sampler: Euler, Seed: 123456789012345678, CFG scale: 5, Size: 64x48"
    record = read_png_metadata(peer_png(tmp_path / "a.png", {"parameters": text}))
    assert (record.request.seed, record.request.steps) == (123456789012345678, 20)
    text = "a cat\nSteps: 20, Sampler: Euler, Seed: 1, CFG scale: nan, Size: 64x48, Variation seed strength: inf"
    request = read_png_metadata(peer_png(tmp_path / "n.png", {"parameters": text})).request
    assert (request.guidance, request.variation_strength) == (0.0, 0.0)  # unknown: JSON has no NaN for other tools
    huge = json.dumps({**INVOKE_METADATA, "cfg_scale": 10**400})  # a JSON integer no float holds
    assert read_png_metadata(peer_png(tmp_path / "o.png", {"invokeai_metadata": huge})).request.guidance == 0.0


def test_a_null_prompt_from_invokeai_is_no_prompt(tmp_path):
    meta = {**INVOKE_METADATA, "negative_prompt": None}
    record = read_png_metadata(peer_png(tmp_path / "i.png", {"invokeai_metadata": json.dumps(meta)}))
    assert record.request.negative_prompt == ""


@pytest.mark.parametrize("chunks", [
    {"invokeai_metadata": "null"},
    {"invokeai_metadata": "[1, 2]"},
    {"sd-metadata": '{"image": "x"}'},
    {"prompt": json.dumps({"3": {"class_type": "KSampler", "inputs": []}})},
    {"workbench": json.dumps({"request": {**make_record(0).request.to_dict(), "seed": "abc"}})},
    {"workbench": json.dumps({"request": {**make_record(0).request.to_dict(), "prompt": 123}})},
    {"workbench": json.dumps({**make_record(0).to_dict(), "created": {"when": "now"}})},
    {"workbench": json.dumps({"request": {**make_record(0).request.to_dict(), "step_noise": 1}})},
    {"workbench": json.dumps({"request": {**make_record(0).request.to_dict(), "adapters": ["lora"]}})},
    {"workbench": json.dumps({"request": {**make_record(0).request.to_dict(), "guidance": float("nan")}})},
    {"prompt": json.dumps(COMFY_GRAPH).replace("beautiful scenery", "\\ud800 scenery")},
], ids=["invokeai null", "invokeai list", "sd-metadata without a dict", "comfyui inputs as a list",
        "seed as text", "prompt as a number", "created as an object",
        "step noise as a number", "adapters as a list", "guidance not a number", "half an emoji"])
def test_odd_json_from_a_peer_is_a_metadata_error_naming_the_file(tmp_path, chunks):
    path = peer_png(tmp_path / "odd.png", chunks)
    with pytest.raises(MetadataError, match=r"odd.png"):
        read_png_metadata(path)


def test_text_or_a_size_past_pillows_limits_is_a_metadata_error(tmp_path):
    """A zTXt chunk that inflates past 1 MB, or a header claiming 400 million pixels: refused by
    name, not a traceback that stops an import."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Seed: 1, Size: 64x48\n" + "x" * 2_000_000, zip=True)
    tiny_image(0).save(tmp_path / "big.png", format="PNG", pnginfo=info)
    with pytest.raises(MetadataError, match=r"big.png is too large to read safely"):
        read_png_metadata(tmp_path / "big.png")
    data = bytearray((tmp_path / "big.png").read_bytes())
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)
    data[8:33] = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    with pytest.raises(MetadataError, match=r"bomb.png is too large to read safely"):
        read_png_metadata(tmp_path / "bomb.png")
