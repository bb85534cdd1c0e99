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
    assert main(["store", "list", "--store", str(tmp_path / "out")]) == 0  # the --out folder, as `map` takes it
    assert f"1 image(s) in {tmp_path / 'out' / 'store'}" in capsys.readouterr().out
    assert not (tmp_path / "out" / "catalogue.sqlite").exists()
