"""`workbench map`: a store to a standalone HTML map, and the errors a shell user can make."""

import pytest
from map_helpers import FakeClip

from workbench.cli import main


@pytest.fixture
def fake_embedder(monkeypatch):
    from workbench.embeddings import clip

    monkeypatch.setattr(clip, "ClipEmbedder", lambda *args, **kwargs: FakeClip())


def test_map_of_a_store_as_html(store, tmp_path, fake_embedder, capsys):
    out = tmp_path / "map.html"
    # the --out folder of `workbench generate` (holding store/) is accepted as well as the store itself
    assert main(["map", "--store", str(store.folder.parent), "--out", str(out), "--projection", "pca",
                 "--color-by", "seed", "--centred", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "map of 3 prompts and 9 images (PCA, centred, coloured by seed)" in printed
    text = out.read_text(encoding="utf-8")
    assert "scattergl" in text and "colour: seed" in text


def test_map_with_umap(store, tmp_path, fake_embedder, capsys):
    out = tmp_path / "umap.html"
    assert main(["map", "--store", str(store.folder), "--out", str(out), "--quiet"]) == 0
    assert "(UMAP, coloured by modifier)" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--store", "{tmp}/nowhere", "--out", "{tmp}/m.html"], "no run store in"),
    (["--store", "{store}", "--out", "{tmp}/m.png"], "--out is the HTML file to write, e.g. map.html; got"),
    (["--store", "{empty}", "--out", "{tmp}/m.html"], "has no images to map; generate some first"),
    (["--store", "{store}", "--out", "{tmp}/m.html", "--pretrained", "openai"],
     "--pretrained openai names weights for an open_clip model; add --clip-model NAME"),
    (["--store", "{store}", "--out", "{tmp}/m.html", "--clip-model", "ViT-B-32"],
     "--clip-model ViT-B-32 without --pretrained would map with random weights"),
])
def test_map_errors_exit_2_with_one_line(store, tmp_path, fake_embedder, capsys, args, message):
    from workbench.store import RunStore

    RunStore(tmp_path / "empty").close()
    args = [a.format(tmp=tmp_path, store=store.folder, empty=tmp_path / "empty") for a in args]
    assert main(["map", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and message in err and err.count("\n") == 1


def test_unknown_colour_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["map", "--out", "m.html", "--color-by", "colour"])
    assert exit_info.value.code == 2 and "invalid choice: 'colour'" in capsys.readouterr().err


def test_a_store_too_small_for_umap_still_gets_its_map(tmp_path, fake_embedder, capsys):
    """One image and its prompt: UMAP cannot run on 2 points, so the PCA map is written and the reason said."""
    from map_helpers import picture, record

    from workbench.store import RunStore

    store = RunStore(tmp_path / "store")
    store.put(record("a red circle", 0, ()), picture("a red circle", 0))
    store.close()
    out = tmp_path / "map.html"
    assert main(["map", "--store", str(tmp_path / "store"), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "map of 1 prompts and 1 images (PCA" in captured.out and out.exists()
    assert "note: UMAP needs at least 3 points, the map has 2; PCA is shown instead" in captured.err
