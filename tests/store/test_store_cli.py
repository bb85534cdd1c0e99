"""`workbench store ...` from a shell: where the store is, and what is found to import."""

from store_helpers import A1111_TEXT, peer_png

from workbench.cli import main


def test_listing_a_folder_without_a_store_says_so_and_creates_nothing(tmp_path, capsys):
    assert main(["store", "list", "--store", str(tmp_path / "nosuch")]) == 2
    assert "no run store in" in capsys.readouterr().err and not (tmp_path / "nosuch").exists()


def test_import_searches_sub_folders_and_finds_the_store_under_an_out_folder(tmp_path, capsys):
    """A1111 keeps outputs/txt2img-images/<date>/*.png; `generate --out DIR` keeps its store in DIR/store."""
    dated = tmp_path / "outputs" / "txt2img-images" / "2026-12-01"
    dated.mkdir(parents=True)
    peer_png(dated / "00001.png", {"parameters": A1111_TEXT})
    assert main(["store", "import", str(tmp_path / "outputs"), "--store", str(tmp_path / "out" / "store")]) == 0
    assert "imported 1 image(s)" in capsys.readouterr().out
    assert main(["store", "import", str(tmp_path / "outputs"), "--store", str(tmp_path / "out" / "store")]) == 0
    assert f"imported 0 image(s) into {tmp_path / 'out' / 'store'}, 1 already there" in capsys.readouterr().out
    assert main(["store", "list", "--store", str(tmp_path / "out")]) == 0  # the --out folder, as `map` takes it
    assert f"1 image(s) in {tmp_path / 'out' / 'store'}" in capsys.readouterr().out
    assert not (tmp_path / "out" / "catalogue.sqlite").exists()


def test_an_import_with_nothing_to_import_leaves_no_store_behind(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["store", "import", str(tmp_path / "empty"), "--store", str(tmp_path / "typo-store")]) == 2
    assert "no PNG files found" in capsys.readouterr().err and not (tmp_path / "typo-store").exists()


def test_one_odd_png_is_skipped_by_name_and_the_others_imported(tmp_path, capsys):
    import json

    from store_helpers import COMFY_GRAPH

    src = tmp_path / "src"
    src.mkdir()
    peer_png(src / "a.png", {"parameters": A1111_TEXT})
    peer_png(src / "b.png", {"prompt": json.dumps(COMFY_GRAPH).replace("beautiful", "\\ud800")})
    peer_png(src / "c.png", {"parameters": A1111_TEXT.replace("horse", "camel")})
    store = tmp_path / "store"
    assert main(["store", "import", str(src), "--store", str(store)]) == 0
    captured = capsys.readouterr()
    assert "imported 2 image(s)" in captured.out and "skipped 1" in captured.out
    assert f"skipped: {src / 'b.png'}" in captured.err
    assert main(["store", "rebuild", "--store", str(store)]) == 0


def test_terminal_escapes_in_an_imported_prompt_are_not_printed(tmp_path, capsys):
    """A PNG's prompt could retitle or recolour the terminal, or fake a line of output."""
    hostile = "\x1b]2;owned\x07\x1b[31mred\nimported 99 image(s)"
    peer_png(tmp_path / "a.png", {"parameters": A1111_TEXT.replace("a photo of", hostile, 1)})
    assert main(["store", "import", str(tmp_path / "a.png"), "--store", str(tmp_path / "store")]) == 0
    assert main(["store", "list", "--store", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert out.count("?]2;owned??[31mred?imported 99 image(s)") == 2  # on the lines of its image alone
