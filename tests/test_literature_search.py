"""Literature search: element mentions under any alias, passages naming the asked element first,
BM25 through bm25s and its numpy fallback, the numpy MiniLM embedder and the shipped starter
vectors, and the per-revision search snapshot that lets a later process search without chromadb."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tools.domain.errors import LiteratureError
from tools.literature import keyword_index, snapshot
from tools.literature.documents import STARTER_PREFIX, document_chunks, starter_corpus_files
from tools.literature.embeddings import HashingEmbedder, MiniLMEmbedder
from tools.literature.keyword_index import KeywordIndex, NumpyBM25, keyword_tokens, make_bm25
from tools.literature.starter import starter_vectors
from tools.literature.store import LiteratureStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store(tmp_path: Path) -> LiteratureStore:
    return LiteratureStore(tmp_path / "lit", embedder=HashingEmbedder(256))


def _md(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- chemical terms and exact-term ranking


def test_element_aliases_and_false_positives() -> None:
    from tools.literature.chem_terms import elements_in, formula_tokens, named_elements

    for text in ("Nb doping", "Nb5+ ions", "Nb2O5", "LiNbO3 coating", "Li-Nb-O phases", "niobium", "lithium niobate", "Nb-doped NCM"):
        assert "Nb" in elements_in(text), text
    assert elements_in("Zr doping") == {"Zr"} and elements_in("zirconia and lithium zirconate") == {"Zr", "Li"}
    assert elements_in("W and B doping") == {"W", "B"} and elements_in("boric acid (H3BO3)") == {"B"}
    assert elements_in("Al2O3 from aluminium nitrate, alumina") >= {"Al"}
    assert elements_in("Li2CO3 and LiOH.H2O") == {"Li"}  # carbon, oxygen, hydrogen are ligands here
    # units, English words, acronyms, phase and stacking names, DOIs and authors are not elements
    for text in ("cycled at 4.3 V and 0.1 C to 100 W", "In this work, As shown, No change", "NCM811, NCA, CIF, NASICON, PSO",
                 "the H2-H3 transition and O3 stacking", "doi:10.1109/ICNN.1995.488968", "as Li et al. showed", "Co-precipitation"):
        assert elements_in(text) == set(), text
    assert named_elements("B doping of Li[Ni0.9Co0.05Mn0.05]O2") == {"B"}  # the host material's elements are not asked for
    assert "nb2o5" in formula_tokens("Nb2O5 coating") and "lini0.8co0.15al0.05o2" in formula_tokens("LiNi0.8Co0.15Al0.05O2")


DOPANT_NOTE = """# Dopants (synthetic test passages, not literature)

## Note 1
Niobium substitution in Ni-rich NCM811 refines the primary particles.

## Note 2
Nb2O5 was mixed with the hydroxide precursor before lithiation of the Ni-rich cathode.

## Note 3
A thin LiNbO3 layer formed at the grain boundaries of the Ni-rich NCM.

## Note 4
Aluminium doping in Ni-rich NCM811 improves cycling and thermal stability of the cathode.

## Note 5
Zr doping in Ni-rich NCM improves cycle retention of the cathode.

## Note 6
Doping Ni-rich NCM cathodes with high-valent dopants refines primary particles and improves cycling.

## Note 7
Mg doping in Ni-rich NCM cathodes moderates lattice collapse during doping studies.

## Note 8
Ti doping in Ni-rich NCM811 reduces cation mixing in the doped cathode.

## Note 9
Doping studies of Ni-rich NCM cathodes compare dopant amounts at grain boundaries.

## Note 10
W doping in Ni-rich NCM keeps primary particles small during doping.

## Note 11
Dopant segregation at grain boundaries of Ni-rich NCM depends on calcination.
"""


@pytest.mark.parametrize("query", ["Nb doping in Ni-rich NCM", "niobium doping", "Nb2O5 doped NCM811"])
def test_passages_naming_the_asked_element_rank_first(tmp_path: Path, store: LiteratureStore, query: str) -> None:
    store.ingest([_md(tmp_path / "dopants.md", DOPANT_NOTE)])
    result = store.search(query, k=5)
    assert {p.citation.section.split(" > ")[-1] for p in result.passages[:3]} == {"Note 1", "Note 2", "Note 3"}, [p.citation.section for p in result.passages]
    assert all(p.matched_elements == ["Nb"] for p in result.passages[:3])
    assert all(p.matched_elements == [] for p in result.passages[3:])


def test_common_elements_do_not_reorder_and_a_material_formula_is_not_an_element_question(tmp_path: Path, store: LiteratureStore) -> None:
    store.ingest([_md(tmp_path / "dopants.md", DOPANT_NOTE)])
    # Ni is in every passage: no tier, nothing is marked
    assert all(p.matched_elements == [] for p in store.search("Ni-rich cathodes", k=5).passages)
    top = store.search("Al doping of LiNi0.8Co0.1Mn0.1O2", k=2).passages
    assert top[0].citation.section.endswith("Note 4") and top[0].matched_elements == ["Al"]


def test_starter_corpus_nb_question_with_real_model(tmp_path: Path) -> None:
    store = LiteratureStore(tmp_path / "lit", embedder=MiniLMEmbedder())
    store.ingest_starter_corpus()
    passages = store.search("Nb doping in Ni-rich NCM", k=5).passages
    assert "niobium" in passages[0].citation.section and passages[0].matched_elements == ["Nb"]
    boron = store.search("B doping of Li[Ni0.9Co0.05Mn0.05]O2", k=4).passages
    assert all("B" in p.matched_elements for p in boron), [p.citation.section for p in boron]


# --------------------------------------------------------------------------- BM25: bm25s and the numpy fallback


def _starter_corpus_tokens() -> list[list[str]]:
    chunks = [c for p in starter_corpus_files() for c in document_chunks(p)]
    return [keyword_tokens(f"{c.title} {c.section} {c.text}") for c in chunks]


def test_bm25_numpy_fallback_gives_bm25s_scores() -> None:
    try:
        keyword_index.import_bm25s()
    except LiteratureError:
        pytest.skip("bm25s is not installed")
    corpus = _starter_corpus_tokens()
    fast, fallback = make_bm25(corpus), NumpyBM25(corpus)
    assert not isinstance(fast, NumpyBM25)
    for query in ("Nb doping in Ni-rich NCM", "boric acid coating temperature", "calcination calcination oxygen"):
        tokens = [t for t in keyword_tokens(query) if t in fast.vocab_dict]
        assert np.allclose(fast.get_scores(tokens), fallback.get_scores(tokens), atol=1e-5)


def test_without_bm25s_keyword_ranking_falls_back_to_numpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm25s", None)  # as in an environment without bm25s: its import fails
    with pytest.raises(LiteratureError, match="bm25s is not installed"):
        keyword_index.import_bm25s()
    corpus = _starter_corpus_tokens()
    assert isinstance(make_bm25(corpus), NumpyBM25)
    ids = [f"p{i}" for i in range(3)]
    index = KeywordIndex(ids, ["calcination in oxygen at 750 degC", "boric acid coating", "Nb2O5 coating of NCM811"])
    assert index.backend == "numpy"
    assert index.ranked_ids("niobium coating", 3) == ["p2", "p1"]  # niobium matches Nb2O5 through elem_nb
    assert index.ranked_ids("olivine", 3) == [] and index.ranked_ids("coating", 0) == []
    # the fallback index is saved with the snapshot and read back with the same ranking
    assert index.save(tmp_path / "bm25")
    again = KeywordIndex.load(tmp_path / "bm25", ids)
    assert again.backend == "numpy" and again.ranked_ids("niobium coating", 3) == ["p2", "p1"]
    # a bm25s index on disk cannot be read without bm25s: the snapshot is then rebuilt, not trusted
    (tmp_path / "bm25s-index").mkdir()
    with pytest.raises(LiteratureError):
        KeywordIndex.load(tmp_path / "bm25s-index", ids)
    # the whole store searches with it, element tier included
    store = LiteratureStore(tmp_path / "lit", embedder=HashingEmbedder(256))
    store.ingest([_md(tmp_path / "dopants.md", DOPANT_NOTE)])
    top = store.search("Nb doping in Ni-rich NCM", k=3).passages
    assert {p.citation.section.split(" > ")[-1] for p in top} == {"Note 1", "Note 2", "Note 3"}


# --------------------------------------------------------------------------- embeddings without torch


def test_shipped_starter_vectors_match_the_notes_and_the_model() -> None:
    embedder = MiniLMEmbedder()
    shipped = starter_vectors(embedder.name)
    chunks = [c for p in starter_corpus_files() for c in document_chunks(p, f"{STARTER_PREFIX}{p.name}")]
    missing = [c.section for c in chunks if c.chunk_id() not in shipped]
    assert not missing, f"run scripts/build_starter_vectors.py: no shipped vector for {missing}"
    sample = chunks[::20]
    again = embedder.embed([c.text for c in sample])
    assert np.abs(again - np.stack([shipped[c.chunk_id()] for c in sample])).max() < 1e-5
    assert starter_vectors("hashing-256") == {}  # vectors of another embedder are never used


def test_query_path_imports_no_torch_and_a_later_process_no_chromadb(tmp_path: Path) -> None:
    first = (
        "import sys, pathlib\n"
        "from tools.literature.store import LiteratureStore\n"
        f"store = LiteratureStore(pathlib.Path({str(tmp_path / 'lit')!r}))\n"
        "store.ingest_starter_corpus()\n"
        "assert store.search('Nb doping in Ni-rich NCM', k=3).passages\n"
        "assert store.embedder.loaded\n"
        "print(','.join(m for m in ('torch', 'sentence_transformers', 'transformers', 'numba') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "", done.stdout
    # A later process searches the same store from its snapshot: no chromadb, no torch.
    later = first.replace("store.ingest_starter_corpus()\n", "assert store.count() == 61\n").replace(
        "('torch',", "('chromadb', 'torch',"
    )
    done = subprocess.run([sys.executable, "-c", later], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "", done.stdout


def test_search_snapshot_follows_writes_of_other_processes(tmp_path: Path) -> None:
    folder = tmp_path / "lit"
    writer = LiteratureStore(folder, embedder=HashingEmbedder(64))
    writer.ingest([_md(tmp_path / "a.md", "# A\n\nOlivine LiFePO4 conducts along b.\n")])
    assert writer.search("olivine", k=1).passages
    snapshot.clear_snapshot_cache()  # as in a new process: only the snapshot on disk
    reader = LiteratureStore(folder, embedder=HashingEmbedder(64))
    assert reader.count() == 1 and not reader._chroma.opened  # from the snapshot, chromadb not opened
    writer.ingest([_md(tmp_path / "b.md", "# B\n\nSpinel LiMn2O4 has 3D paths.\n")])
    snapshot.clear_snapshot_cache()
    top = reader.search("spinel LiMn2O4", k=1).passages[0]  # new revision: rebuilt, not the stale snapshot
    assert "Spinel" in top.text and reader.count() == 2
    snapshots = list((folder / snapshot.SNAPSHOT_DIR / "literature").iterdir())
    assert len(snapshots) == 1  # older revisions are removed
    with pytest.raises(LiteratureError, match="built with embedder 'hashing-64'"):
        LiteratureStore(folder, embedder=HashingEmbedder(128))  # checked from sqlite, without chromadb


@pytest.mark.slow
def test_numpy_embedder_equals_sentence_transformers() -> None:
    texts = [
        "Nb doping in Ni-rich NCM",
        "  Boric acid (H3BO3) coating at 300 to 500 degC lowers residual lithium.  ",
        "LiNi0.8Co0.15Al0.05O2 ⇒ Ni³⁺/Ni²⁺ at 750 °C",
        "word " * 400,  # longer than 256 word pieces: truncated the same way
    ]
    fast = MiniLMEmbedder(backend="numpy").embed(texts)
    reference = MiniLMEmbedder(backend="sentence-transformers").embed(texts)
    assert np.abs(fast - reference).max() < 1e-5
    assert (fast * reference).sum(axis=1).min() > 0.99999
    one_by_one = np.concatenate([MiniLMEmbedder().embed([t]) for t in texts])
    assert np.abs(one_by_one - reference).max() < 1e-5
