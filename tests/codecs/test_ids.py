"""Id codecs: round trips (empty, single, huge lists; universes to 2^40; skewed and uniform
list sizes), compressed search identical to uncompressed, corruption detected, bad bytes safe."""

from __future__ import annotations

from math import lgamma, log

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import assert_refused, clustered
from vtool import _native, memory
from vtool.codecs import ids as ids_module
from vtool.codecs.ids import encode_ids, huffman_lengths, information_bounds, open_codec
from vtool.commands.build import add, train
from vtool.commands.compress import compress_ids
from vtool.errors import VtoolError
from vtool.index import codestore
from vtool.index import index as index_module
from vtool.index.index import load_index

UNIVERSES = [1, 2, 1000, 200_000, 2**31 - 1, 2**31 + 5, 2**40]


def random_set(rng, universe, n):
    if universe <= 10**7:
        return np.sort(rng.choice(universe, min(n, universe), replace=False)).astype(np.uint64)
    return np.unique(rng.integers(0, universe, size=n, dtype=np.uint64))


@pytest.mark.parametrize("universe", UNIVERSES)
@pytest.mark.parametrize("n", [0, 1, 2, 100, 5000])
def test_native_codecs_round_trip(universe, n):
    rng = np.random.default_rng(universe % 1000 + n)
    ids = random_set(rng, universe, n)
    n = len(ids)
    np.testing.assert_array_equal(_native.roc_decode(_native.roc_encode(ids, universe), n, universe), ids)
    words = _native.ef_encode(ids, universe)
    np.testing.assert_array_equal(_native.ef_decode(words, n, universe), ids)
    if n:
        idx = rng.integers(0, n, size=64)
        np.testing.assert_array_equal(_native.ef_get(words, n, universe, idx), ids[idx])
        bits = max(int(universe - 1).bit_length(), 1)
        np.testing.assert_array_equal(_native.packed_get(_native.packed_encode(ids, bits), bits, n, idx), ids[idx])


def test_roc_costs_the_binomial_bound_plus_a_small_constant():
    rng = np.random.default_rng(1)
    for universe, n in [(200_000, 781), (1_000_000, 4000), (2**40, 1000)]:
        ids = random_set(rng, universe, n)
        bound = (lgamma(universe + 1) - lgamma(len(ids) + 1) - lgamma(universe - len(ids) + 1)) / log(2)
        bits = 32 * len(_native.roc_encode(ids, universe))
        assert bound <= bits <= bound + 128, (universe, n, bits, bound)


@pytest.mark.parametrize("n", [31, 32, 33, 64, 65, 1025, 4097, 20_000])
def test_roc_round_trips_dense_and_clustered_sets(n):
    """Sets whose gap keys e_t - t are all equal (every id below the universe, or runs of
    consecutive ids), at sizes around the decoder's block splits."""
    rng = np.random.default_rng(n)
    runs = np.unique(np.concatenate([np.arange(s, s + 50) for s in rng.integers(0, 10 * n, n // 50 + 1)]))[:n]
    for ids, universe in [(np.arange(n), n), (np.arange(n), n + 1), (np.arange(1, n + 1), n + 1),
                          (runs, int(runs[-1]) + 7)]:
        ids = np.asarray(ids, dtype=np.uint64)
        stream = _native.roc_encode(ids, universe)
        np.testing.assert_array_equal(_native.roc_decode(stream, len(ids), universe), ids)


def test_a_huge_single_list_round_trips():
    ids = np.arange(0, 3_000_000, 3, dtype=np.uint64)
    np.testing.assert_array_equal(_native.roc_decode(_native.roc_encode(ids, 3_000_000), len(ids), 3_000_000), ids)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**40 - 1), max_size=200, unique=True), st.integers(0, 5))
def test_roc_and_ef_round_trip_any_set(values, slack):
    ids = np.array(sorted(values), dtype=np.uint64)
    universe = int(ids.max()) + 1 + slack if len(ids) else 1 + slack
    np.testing.assert_array_equal(_native.roc_decode(_native.roc_encode(ids, universe), len(ids), universe), ids)
    np.testing.assert_array_equal(_native.ef_decode(_native.ef_encode(ids, universe), len(ids), universe), ids)


@pytest.mark.parametrize("decoder", ["roc", "roc_bits", "ef", "packed", "wt", "wt_shaped"])
def test_decoders_survive_random_and_mutated_bytes(decoder):
    rng = np.random.default_rng(2)
    good = {"roc": lambda: _native.roc_encode(random_set(rng, 10**6, 500), 10**6),
            "roc_bits": lambda: _native.roc_encode_bits(random_set(rng, 10**6, 500), 10**6, np.array([200, 300]),
                                                        np.array([0, 1, 2]))[0],
            "ef": lambda: _native.ef_encode(random_set(rng, 10**6, 500), 10**6),
            "packed": lambda: _native.packed_encode(random_set(rng, 10**6, 500), 20),
            "wt": lambda: _native.wm_build(rng.integers(0, 16, 3000).astype(np.uint32), 4),
            "wt_shaped": lambda: _native.wm_build_shaped(np.minimum(rng.geometric(0.3, 3000) - 1, 15).astype(np.uint32),
                                                         np.array([2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14],
                                                                  np.uint8))}[decoder]()
    for trial in range(300):
        data = good.copy()
        if trial % 3 == 0:
            data = rng.integers(0, 2**32 if data.dtype == np.uint32 else 2**63, size=rng.integers(0, 40),
                                dtype=np.uint64).astype(data.dtype)
        else:
            for _ in range(rng.integers(1, 4)):
                if len(data):
                    data[rng.integers(len(data))] ^= data.dtype.type(1 << int(rng.integers(data.itemsize * 8)))
        try:
            if decoder == "roc":
                out = _native.roc_decode(data, 500, 10**6)
                assert len(out) == 500
            elif decoder == "roc_bits":  # the true offsets, or some that run past the data
                ends = np.array([0, int(rng.integers(0, 32 * len(data) + 40)), 32 * len(data)])
                ends.sort()
                _native.roc_get_rows_bits(data, ends, np.array([0, 1, 2]), np.array([0, 200, 500]), 10**6,
                                          rng.integers(0, 500, size=20))
            elif decoder == "ef":
                _native.ef_decode(data, 500, 10**6)
                _native.ef_get(data, 500, 10**6, rng.integers(0, 500, size=20))
            elif decoder.startswith("wt"):
                symbol = int(rng.integers(0, 16))
                reader = _native.WaveletReader(data, 16)
                reader.select(symbol, rng.integers(0, 200, size=20))
                reader.select_rows(rng.integers(0, reader.offsets[-1] + 1, size=20))
                every = reader.decode_all()  # ranks, whatever the bytes: below the matrix's length
                assert len(every) == reader.offsets[-1] and ((every >= 0) & (every < int(reader.words[0]))).all()
            else:
                _native.packed_get(data, 20, 500, rng.integers(0, 500, size=20))
        except ValueError:
            pass  # refused cleanly


LEVELS = [lvl for lvl in _native.LEVEL_NAMES
          if _native.LEVEL_NAMES.index(lvl) <= _native.LEVEL_NAMES.index(_native.cpu_max_level())]


@pytest.fixture(params=LEVELS)
def simd_level(request):
    """Kernels with a copy a level: the wavelet row selects (scalar, popcnt, BMI2) and the ROC
    decoder's set (scalar blocks, AVX2 and AVX-512 counts)."""
    before = _native.simd_level()
    _native.set_simd_level(request.param)
    yield request.param
    _native.set_simd_level(before)


@pytest.mark.parametrize("universe", [70, 1000, 10**6, 2**31, 2**31 + 1, 2**32 - 1, 2**32])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 256, 257, 512, 513, 1000, 6000,
                               70000])
def test_roc_decodes_the_same_sets_at_every_level(universe, n, simd_level):
    """The SIMD set against the input: as unsorted keys up to 512 values below 2^31, else in
    32-bit blocks of 16 to 64 values by the set's size (counted by vector compares, values
    moved a lane), at sizes around its vector lengths, where the block size changes (64, 256
    ids), past the flat set (512) and the tabulated steps (65,536), and at universes around the
    2^31 the flat set and the steps serve: random sets, every id from the universe's top down
    (the largest values a 32-bit block holds) and runs of consecutive ids (gap keys all equal,
    which the counts must take whole)."""
    rng = np.random.default_rng(n + universe % 997)
    n = min(n, universe)
    top = np.arange(universe - n, universe, dtype=np.uint64)
    runs = np.unique(np.concatenate([np.arange(s, s + 20) for s in rng.integers(0, universe - 20, n // 20 + 1)]))[:n]
    for ids in (random_set(rng, universe, n), top, runs.astype(np.uint64)):
        stream = _native.roc_encode(ids, universe)
        np.testing.assert_array_equal(_native.roc_decode(stream, len(ids), universe), ids)


def test_elias_fano_rows_are_the_lists_ids_at_every_level(simd_level):
    """Rows of Elias-Fano coded lists (the list found by a search of the offsets, then a select
    in a word of the high bits) give numpy's ids at every level (the popcnt copy and the
    scalar one): a list of consecutive ids (the densest high bits), lists past a directory
    entry (256 ids), sparse ones, single ids and empty lists between them; every row and rows
    in result order."""
    rng = np.random.default_rng(31)
    universe = 6000
    sizes = np.array([0, 4000, 0, 0, 300, 1, 17, 0, 600, 2, 1])
    consecutive = np.arange(1000, 5000)  # list 1
    others = rng.permutation(np.setdiff1d(np.arange(universe), consecutive))
    ids = np.concatenate([consecutive, others[:sizes.sum() - len(consecutive)]])
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sections, header, order = encode_ids("ef", ids, offsets)
    codec = open_codec(sections, header, offsets)
    for rows in (np.arange(len(ids)), rng.integers(0, len(ids), 3000)):
        np.testing.assert_array_equal(codec.ids_of(rows), ids[order][rows])
    with pytest.raises(VtoolError, match="out of range"):
        codec.ids_of(np.array([len(ids)]))


@pytest.mark.parametrize("n", [1, 63, 64, 1023, 1024, 1025, 5000, 32768, 33728, 70000])
@pytest.mark.parametrize("shape", ["uniform", "skewed", "one", "sparse"])
def test_wavelet_select_finds_every_occurrence(n, shape, simd_level):
    """select_l(j) is the position of the j-th l, for every l and j (numpy as the reference),
    on lengths around the word, the 16-word window and the 512-word superblock (32,768 bits
    and 15 words past it), and symbol laws that leave levels all ones, all zeros or nearly so
    (the select samples' edge cases, and stretches too sparse for one window). Rows of an
    inverted file in any order (a search per list) and sorted (their lists found by a walk)."""
    rng = np.random.default_rng(n)
    levels = 5
    symbols = {"uniform": lambda: rng.integers(0, 32, n),
               "skewed": lambda: np.minimum(rng.geometric(0.5, n) - 1, 31),
               "one": lambda: np.full(n, 21),
               "sparse": lambda: np.where(rng.random(n) < 0.001, 31, 0)}[shape]().astype(np.uint32)
    words = _native.wm_build(symbols, levels)
    reader = _native.WaveletReader(words, 32)
    np.testing.assert_array_equal(reader.counts, np.bincount(symbols, minlength=32))
    for symbol in np.unique(symbols):
        where = np.flatnonzero(symbols == symbol)
        np.testing.assert_array_equal(reader.select(int(symbol), np.arange(len(where))), where)
        with pytest.raises(ValueError):
            reader.select(int(symbol), np.array([len(where)]))
    order = np.argsort(symbols, kind="stable")  # rows of an inverted file: list by list, ids ascending
    rows = rng.integers(0, n, 500)
    for rows in (rows, np.sort(rows)):
        np.testing.assert_array_equal(reader.select_rows(rows), order[rows])
    grid = np.where(rng.random((50, 10)) < 0.2, -1, rng.integers(0, n, (50, 10)))  # a search's, empty slots -1
    np.testing.assert_array_equal(reader.select_rows(grid), np.where(grid >= 0, order[grid], -1))
    np.testing.assert_array_equal(reader.decode_all(), order)  # every row at once: a pass a level
    with pytest.raises(ValueError):  # no row past the lists
        reader.select_rows(np.array([0, n]))


@pytest.mark.parametrize("bound", [1, 5000, 1 << 22, 1 << 23, 1 << 32])
def test_rows_sort_stably_by_radix_like_numpy(bound):
    """The codecs' row sort (one to three 11-bit passes) against numpy's stable argsort, with
    repeated rows, and rows out of range refused."""
    rng = np.random.default_rng(bound % 97)
    rows = rng.integers(0, bound, 3000)
    rows[::7] = rows[0]  # repeats: their order of arrival kept
    got, order = _native.sort_rows(rows, bound)
    want = np.argsort(rows, kind="stable")
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(got, rows[want])
    for bad in (-1, bound):
        with pytest.raises(ValueError):
            _native.sort_rows(np.array([0, bad]), bound)


@pytest.mark.parametrize("law", ["skewed", "one", "two", "with_empty"])
def test_huffman_shaped_wavelet_matrix_selects_like_numpy(law, simd_level):
    """Codes of their Huffman lengths (a level holds only the longer codes): select, starts
    and rows of an inverted file against numpy, on skewed laws, a single symbol, two, and
    symbols that never occur."""
    rng = np.random.default_rng(5)
    nsym, n = 40, 6000
    symbols = {"skewed": lambda: np.minimum(rng.geometric(0.15, n) - 1, nsym - 1),
               "one": lambda: np.full(n, 7),
               "two": lambda: rng.choice([3, 30], n, p=[0.9, 0.1]),
               "with_empty": lambda: rng.choice(np.arange(0, nsym, 3), n)}[law]().astype(np.uint32)
    counts = np.bincount(symbols, minlength=nsym)
    lens = huffman_lengths(counts)
    assert (lens[counts == 0] == 0).all() and (2.0 ** -lens[counts > 0].astype(float)).sum() <= 1
    words = _native.wm_build_shaped(symbols, lens)
    reader = _native.WaveletReader(words, nsym)
    np.testing.assert_array_equal(reader.counts, counts)
    for symbol in range(nsym):
        where = np.flatnonzero(symbols == symbol)
        np.testing.assert_array_equal(reader.select(symbol, np.arange(len(where))), where)
    order = np.argsort(symbols, kind="stable")
    rows = rng.integers(0, n, 700)
    for rows in (rows, np.sort(rows)):
        np.testing.assert_array_equal(reader.select_rows(rows), order[rows])
    np.testing.assert_array_equal(reader.decode_all(), order)  # every row at once: a pass a level
    with pytest.raises(ValueError):  # a symbol with no code cannot be built
        _native.wm_build_shaped(np.array([nsym - 1], np.uint32), np.zeros(nsym, np.uint8))


def test_wt_codec_is_within_3_percent_of_the_entropy_of_the_list_sizes():
    """The Huffman shape codes an id in about H(list sizes) bits: uneven lists (IVF4096 over
    200k ids, Dirichlet sizes) cost 1.018 x H, where the fixed shape's 12 bits were 1.030 x."""
    rng = np.random.default_rng(6)
    n, nlist = 200_000, 4096
    sizes = rng.multinomial(n, rng.dirichlet(np.full(nlist, 2.0)))
    list_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = rng.permutation(n).astype(np.int64)
    sections, header, order = encode_ids("wt", ids, list_offsets)
    bits = 8 * sum(a.nbytes for a in sections.values())
    entropy = information_bounds(sizes)["entropy_bits_per_id"]
    assert bits / n <= 1.03 * entropy
    codec = open_codec(sections, header, list_offsets)
    rows = rng.integers(0, n, 5000)
    np.testing.assert_array_equal(codec.ids_of(rows), ids[order][rows])


def test_wavelet_matrix_stores_only_the_bits_and_reads_the_layout_with_directories():
    """A level is its zero count and its bits; files before this also kept a rank directory
    (n/1024 + 2 uint32 a level) after the bits, which is skipped, not trusted."""
    rng = np.random.default_rng(3)
    n, levels = 5000, 6
    symbols = rng.integers(0, 64, n).astype(np.uint32)
    words = _native.wm_build(symbols, levels)
    bit_words = -(-n // 64)
    assert len(words) == 2 + levels * (1 + bit_words)
    dir_words = (n // 1024 + 3) // 2
    old = [np.array([n, levels], np.uint64)]
    for k in range(levels):
        level = words[2 + k * (1 + bit_words):2 + (k + 1) * (1 + bit_words)]
        old += [level, rng.integers(0, 2**63, dir_words, dtype=np.uint64)]  # whatever the directory held
    old = np.concatenate(old)
    for layout in (words, old):
        reader = _native.WaveletReader(layout, 64)
        for symbol in (0, 17, 63):
            where = np.flatnonzero(symbols == symbol)
            np.testing.assert_array_equal(reader.select(symbol, np.arange(len(where))), where)
    with pytest.raises(ValueError):  # the old layout's length, read as the new one's, is refused
        _native.WaveletReader(old[:2 + levels * (1 + bit_words) - 1], 64)


def index_with_ids(tmp_path, spec="IVF16,PQ4", ids=None, n=3000, d=16):
    base = clustered(n, d, seed=3)
    np.save(tmp_path / "base.npy", base)
    train(str(tmp_path / "base.npy"), str(tmp_path / "m.vti"), spec)
    if ids is None:
        add(str(tmp_path / "m.vti"), [str(tmp_path / "base.npy")], str(tmp_path / "i.vti"))
    else:
        from tests.io.writers import write_parquet

        write_parquet(tmp_path / "b.parquet", base, ids=ids)
        add(str(tmp_path / "m.vti"), [str(tmp_path / "b.parquet")], str(tmp_path / "i.vti"), id_column="id")
    return base


@pytest.mark.parametrize("method", ["packed", "ef", "roc", "wt", "int64"])
@pytest.mark.parametrize("spec", ["IVF16,PQ4", "IVF16,Flat", "IVF8,PQ4x4fs,RFlat", "IVF8,SQ8", "Flat"])
@pytest.mark.parametrize("sparse", [False, True])
def test_compressed_search_is_identical_to_uncompressed(tmp_path, monkeypatch, method, spec, sparse):
    """One thread, and two over chunks of 8 queries (int64, packed and ef resolve each chunk's
    ids on its thread, roc and wt all rows at the end)."""
    rng = np.random.default_rng(4)
    ids = np.sort(rng.choice(2**40, 3000, replace=False)) if sparse else None
    index_with_ids(tmp_path, spec, ids)
    queries = clustered(50, 16, seed=5)
    report = compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "c.vti"), method=method, verify=True)
    assert report["id_table"] == (sparse and method != "int64")
    assert (report["id_table_bits_per_id"] > 0) == report["id_table"]
    before, after = load_index(str(tmp_path / "i.vti")), load_index(str(tmp_path / "c.vti"))
    assert after.id_codec.name == method
    for nprobe in (1, 3, 16):
        d0, i0 = before.search(queries, 10, nprobe)
        d1, i1 = after.search(queries, 10, nprobe)
        np.testing.assert_array_equal(i1, i0)
        np.testing.assert_array_equal(d1, d0)
        with monkeypatch.context() as m:
            m.setattr(index_module, "QUERY_CHUNK", 8)
            d2, i2 = load_index(str(tmp_path / "c.vti")).search(queries, 10, nprobe, threads=2)
        np.testing.assert_array_equal(i2, i0)
        np.testing.assert_array_equal(d2, d0)
    np.testing.assert_array_equal(np.sort(after.ids), np.sort(before.ids))


def test_compressed_ids_are_smaller_and_near_the_bounds(tmp_path):
    index_with_ids(tmp_path, "IVF64,Flat", n=20000, d=8)
    reports = {m: compress_ids(str(tmp_path / "i.vti"), str(tmp_path / f"{m}.vti"), method=m)
               for m in ("packed", "ef", "roc", "wt")}
    bound = reports["roc"]["log2_binomial_bits_per_id"]
    assert reports["packed"]["bits_per_id"] <= 15.1  # ceil(log2 20000) + a word
    assert reports["roc"]["bits_per_id"] <= bound + 0.1  # ~90 bits of ANS state and start-up a stream of 16 lists
    assert reports["roc"]["bits_per_id"] < reports["ef"]["bits_per_id"] < reports["packed"]["bits_per_id"]
    entropy = reports["wt"]["entropy_bits_per_id"]  # 64 balanced lists: H close to 6
    assert reports["wt"]["bits_per_id"] <= 1.03 * entropy
    assert reports["wt"]["bits_per_id"] < reports["roc"]["bits_per_id"]
    auto = compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "auto.vti"))
    assert auto["method"] == "wt"
    full = compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "auto.vti"), allow_full_decode=True)
    assert "roc" in full["candidates_bits_per_id"] and "roc" not in auto["candidates_bits_per_id"]
    assert full["method"] == min(full["candidates_bits_per_id"], key=full["candidates_bits_per_id"].get)


def test_information_bounds():
    b = information_bounds(np.array([50, 50]))
    assert b["entropy_bits_per_id"] == pytest.approx(1.0)
    assert b["log2_binomial_bits_per_id"] == pytest.approx(2 * (lgamma(101) - 2 * lgamma(51)) / log(2) / 100)


def test_a_flipped_byte_in_compressed_ids_is_detected(tmp_path):
    index_with_ids(tmp_path)
    compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "c.vti"), method="roc")
    from vtool.index.container import VtiFile

    e = VtiFile(tmp_path / "c.vti").sections["id_roc"]
    data = bytearray((tmp_path / "c.vti").read_bytes())
    data[e["offset"] + e["nbytes"] // 2] ^= 0x04
    (tmp_path / "c.vti").write_bytes(bytes(data))
    with pytest.raises(VtoolError, match="checksum mismatch in section 'id_roc'"):
        load_index(str(tmp_path / "c.vti"))


def test_compress_ids_cli_reports_and_refuses_unknown_methods(tmp_path, cli):
    index_with_ids(tmp_path)
    r = cli("compress-ids", tmp_path / "i.vti", "-o", tmp_path / "c.vti", "--method", "roc", "--verify")
    assert r.code == 0 and "roc (written)" in r.out and "H(list sizes)" in r.out
    r = cli("info", tmp_path / "c.vti", "--json")
    assert r.code == 0
    (tmp_path / "x.vti").write_bytes(b"previous")
    assert_refused(cli("compress-ids", tmp_path / "i.vti", "-o", tmp_path / "x.vti", "--method", "huffman"),
                   "unknown --method 'huffman'")
    assert (tmp_path / "x.vti").read_bytes() == b"previous"


def test_codec_sections_open_through_the_generic_interface():
    ids = np.random.default_rng(6).permutation(1000)
    offsets = np.array([0, 0, 1, 400, 1000])
    for method in ("packed", "ef", "roc", "wt"):
        sections, header, order = encode_ids(method, ids, offsets)
        codec = open_codec(sections, header, offsets)
        np.testing.assert_array_equal(codec.decode_all(), ids[order])
        rows = np.array([999, 0, 500, 1])
        np.testing.assert_array_equal(codec.ids_of(rows), ids[order][rows])


def test_ids_of_on_two_threads_gives_the_ids_of_one(monkeypatch):
    """A search's final rows are resolved on its threads: the random-access codecs in equal
    parts, ROC cut where a stream begins (streams of 16 lists, some empty), in any row order."""
    for codec_class in (ids_module.IdCodec, ids_module.RocIds, ids_module.WaveletIds):
        monkeypatch.setattr(codec_class, "parallel_rows", 1000)
    rng = np.random.default_rng(8)
    n, nlist = 30_000, 70
    sizes = rng.multinomial(n, rng.dirichlet(np.full(nlist, 0.5)))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = rng.permutation(n) * 3 + 5  # not dense: through the id table
    rows = np.concatenate([rng.integers(0, n, 20_000), [0, n - 1]])
    for method in ("packed", "ef", "roc", "wt"):
        sections, header, order = encode_ids(method, ids, offsets)
        codec = open_codec(sections, header, offsets)
        np.testing.assert_array_equal(codec.ids_of(rows, threads=2), ids[order][rows])
        np.testing.assert_array_equal(codec.ids_of(rows, threads=3), codec.ids_of(rows))


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("method", ["int64", "packed", "ef", "roc", "wt"])
def test_a_search_result_grid_becomes_ids_with_its_empty_slots_kept(monkeypatch, method, dense):
    """ids_at takes a search's (queries, k) positions, -1 where a query found fewer than k:
    every codec gives table[position] there and -1 in the empty slots, on any number of
    threads (int64, packed, ef and wt in one native pass when the ids are 0..n-1, split here past
    1,000 rows, each distinct row read once; other ids through the id table); a position past
    the rows is refused, not read."""
    for codec_class in (ids_module.IdCodec, ids_module.Int64Ids, ids_module.RocIds, ids_module.WaveletIds):
        monkeypatch.setattr(codec_class, "parallel_rows", 1000)
    rng = np.random.default_rng(9)
    n, nlist = 20_000, 30
    offsets = np.concatenate([[0], np.cumsum(rng.multinomial(n, np.full(nlist, 1 / nlist)))]).astype(np.int64)
    ids = rng.permutation(n) if dense else rng.permutation(n) * 7 + 3
    sections, header, order = encode_ids(method, ids, offsets)
    codec = open_codec(sections, header, offsets)
    pos = rng.integers(0, n, size=(1000, 10))
    pos[rng.random(pos.shape) < 0.1] = -1
    assert len(np.unique(pos)) < 0.9 * pos.size  # rows repeat, as a search's hubs do
    want = np.where(pos >= 0, ids[order][np.maximum(pos, 0)], -1)
    for threads in (1, 3):
        np.testing.assert_array_equal(codec.ids_at(pos, threads), want)
    pos[500, 3] = n
    with pytest.raises(VtoolError, match="out of range"):
        codec.ids_at(pos, 3)


@pytest.mark.parametrize("spec", ["IVF16,PQ4", "IVF16,PQ4x6", "PQ8"])
def test_ans_compressed_codes_search_identically_and_near_the_ideal_length(tmp_path, spec):
    index_with_ids(tmp_path, spec)
    queries = clustered(40, 16, seed=7)
    report = compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "c.vti"), method="ef", codes="ans", verify=True)
    ids_only = compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "ids.vti"), method="ef")
    assert report["bits_per_id"] == ids_only["bits_per_id"]  # the codes are reported apart
    assert report["code_bits_per_vector"] <= 1.01 * report["ideal_adaptive_bits_per_vector"] + 2 * 64 * 16 / 3000
    before, after = load_index(str(tmp_path / "i.vti")), load_index(str(tmp_path / "c.vti"))
    for nprobe in (1, 16):
        d0, i0 = before.search(queries, 10, nprobe)
        d1, i1 = after.search(queries, 10, nprobe, threads=2)
        np.testing.assert_array_equal(i1, i0)
        np.testing.assert_array_equal(d1, d0)
    again = compress_ids(str(tmp_path / "c.vti"), str(tmp_path / "c2.vti"), method="roc", verify=True)
    assert again["code_bits_per_vector"] == pytest.approx(report["code_bits_per_vector"], rel=0.01)


def test_pq_scans_by_row_terms_find_what_tables_composed_per_list_find(tmp_path, monkeypatch):
    """Codes of 16 bytes and more are scanned by the query's table, each row adding its list's
    term (summed once per index; per decoded list for ANS-coded codes); shorter codes compose
    a table per (query, list). Same neighbours, distances within float rounding; ANS-coded
    codes exactly as plain ones."""
    index_with_ids(tmp_path, "IVF16,PQ16", d=32)
    queries = clustered(60, 32, seed=7)
    plain = load_index(str(tmp_path / "i.vti"))
    assert plain.store.list_terms(plain._precomputed(), np.arange(16)) is not None
    d_terms, i_terms = plain.search(queries, 10, 4)
    monkeypatch.setattr(codestore, "TERMS_MAX_BYTES", 0)
    tables = load_index(str(tmp_path / "i.vti"))
    assert tables.store.list_terms(tables._precomputed(), np.arange(16)) is None
    d_tab, i_tab = tables.search(queries, 10, 4)
    monkeypatch.undo()
    with memory.limited(64 << 20):  # under a budget, terms only where a quarter of what it leaves holds them
        monkeypatch.setattr(memory, "free", lambda: 4 * 4 * 3000 - 1)
        budgeted = load_index(str(tmp_path / "i.vti"))
        assert budgeted.store.list_terms(budgeted._precomputed(), np.arange(16)) is None
        monkeypatch.undo()
    np.testing.assert_allclose(d_terms, d_tab, rtol=1e-5)
    assert (i_terms == i_tab).mean() > 0.99  # only near-equal distances may swap
    compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "c.vti"), method="ef", codes="ans")
    coded = load_index(str(tmp_path / "c.vti"))
    for nprobe in (1, 4, 16):  # lists decoded (and their terms summed) a few at a time
        d, i = coded.search(queries, 10, nprobe, threads=2)
        want_d, want_i = plain.search(queries, 10, nprobe)
        np.testing.assert_array_equal(i, want_i)
        np.testing.assert_array_equal(d, want_d)


def test_code_compression_refuses_other_encodings(tmp_path, cli):
    index_with_ids(tmp_path, "IVF8,SQ8")
    assert_refused(cli("compress-ids", tmp_path / "i.vti", "-o", tmp_path / "c.vti", "--codes", "ans"),
                   "compresses PQ")


@pytest.mark.parametrize("group", [2, 3, 16])
def test_roc_rows_of_lists_chained_in_streams(group):
    """Lists chained group by group in one stream each (empty lists and a short last group
    included) decode to themselves, by rows in any order and whole."""
    rng = np.random.default_rng(group)
    universe = 10**6
    lists = [random_set(rng, universe, int(n)) for n in rng.choice([0, 1, 5, 300, 1000], size=11)]
    counts = np.array([len(ids) for ids in lists])
    streams = [_native.roc_encode(np.concatenate(lists[g:g + group]), universe, counts[g:g + group])
               for g in range(0, len(lists), group)]
    for g, stream in zip(range(0, len(lists), group), streams):
        np.testing.assert_array_equal(_native.roc_decode(stream, counts[g:g + group], universe),
                                      np.concatenate(lists[g:g + group]))
    data = np.concatenate(streams)
    word_offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])])
    list_offsets = np.concatenate([[0], np.cumsum(counts)])
    values = np.concatenate(lists)
    rows = rng.integers(0, len(values), 3000)
    np.testing.assert_array_equal(_native.roc_get_rows(data, word_offsets, list_offsets, universe, rows, group),
                                  values[rows])
    rows = np.sort(rows)  # streams decoded side by side, each once
    np.testing.assert_array_equal(_native.roc_get_rows(data, word_offsets, list_offsets, universe, rows, group),
                                  values[rows])
    with pytest.raises(ValueError):  # a stream read as holding other lists
        _native.roc_decode(streams[0], counts[:group][::-1] + 1, universe)
    if group >= len(lists):  # a header's group past the lists (crafted, or a small index): one stream, no
        # allocation of that many list counts (the fuzzer's 2^40 made ASan abort)
        np.testing.assert_array_equal(
            _native.roc_get_rows(data, word_offsets, list_offsets, universe, rows, 1 << 50), values[rows])


def test_roc_rows_decode_a_stream_only_down_to_the_first_list_they_need():
    """The list coded first in a stream comes out last: rows of the later lists are read
    without decoding it (a corrupt word at the bottom of the stack, which only it reads, leaves
    their ids right), a row of it asked afterwards decodes the stream again, whole, and the
    whole stream still refuses the corrupt word."""
    rng = np.random.default_rng(12)
    universe, lists = 10**6, [random_set(rng, 10**6, n) for n in (300, 1000)]
    counts = np.array([len(ids) for ids in lists])
    stream = _native.roc_encode(np.concatenate(lists), universe, counts)
    word_offsets, list_offsets = np.array([0, len(stream)]), np.array([0, 300, 1300])
    values = np.concatenate(lists)
    later, earlier = np.sort(rng.integers(300, 1300, 50)), rng.integers(0, 300, 5)
    for rows in (later, np.concatenate([later, earlier, later])):
        np.testing.assert_array_equal(_native.roc_get_rows(stream, word_offsets, list_offsets, universe, rows, 2),
                                      values[rows])
    corrupt = stream.copy()
    corrupt[2] ^= 1 << 7  # the first word list 0 pushed
    np.testing.assert_array_equal(_native.roc_get_rows(corrupt, word_offsets, list_offsets, universe, later, 2),
                                  values[later])
    for rows in (earlier, np.concatenate([later, earlier])):
        with pytest.raises(ValueError):
            _native.roc_get_rows(corrupt, word_offsets, list_offsets, universe, rows, 2)


def test_roc_codec_is_within_a_tenth_of_a_bit_of_the_bound_at_100_ids_a_list():
    """A bit stream a list (shorter ones chained to 64 ids) costs about 2 bits over the bound
    and its length 4-5 more (against its prediction): word streams cost 0.66 bits/id over the
    bound at 137 ids a list as one stream a list, 0.05 chained 16 to a stream."""
    rng = np.random.default_rng(7)
    n, nlist = 25_600, 256  # 100 ids a list on average
    sizes = rng.multinomial(n, rng.dirichlet(np.full(nlist, 5.0)))
    list_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = rng.permutation(n).astype(np.int64)
    sections, header, order = encode_ids("roc", ids, list_offsets)
    bits = 8 * sum(a.nbytes for a in sections.values())  # the streams and their offsets
    bound = information_bounds(sizes)["log2_binomial_bits_per_id"]
    assert bound < bits / n <= bound + 0.1
    codec = open_codec(sections, header, list_offsets)
    np.testing.assert_array_equal(codec.decode_all(), ids[order])


@pytest.mark.parametrize("n", [0, 1, 2, 5, 63, 64, 300, 999])
@pytest.mark.parametrize("universe", [1000, 10**6, 2**40])
def test_roc_bit_streams_round_trip_by_rows_at_every_level(universe, n, simd_level):
    """Bit streams of lists of n ids (and of varied lists around them, empty ones included),
    grouped by the 64-id rule, read back by rows in any order and sorted, at every SIMD level
    (the decoder's set differs by level); a list coded alone costs its bound plus a few bits."""
    if n > universe:
        return
    rng = np.random.default_rng(n + universe % 97)
    sizes = np.array([n, 0, 3, n, 70, 1] + list(rng.integers(0, 200, 6)))
    sizes = np.minimum(sizes, universe)
    lists = [np.sort(rng.choice(universe, int(k), replace=False)).astype(np.uint64) for k in sizes]
    values = np.concatenate(lists)
    list_offsets = np.concatenate([[0], np.cumsum(sizes)])
    starts = _native.roc_groups(sizes, 64)
    words, offsets = _native.roc_encode_bits(values, universe, sizes, starts)
    rows = rng.integers(0, len(values), 500) if len(values) else np.zeros(0, np.int64)
    for r in (rows, np.sort(rows), np.arange(len(values))):
        np.testing.assert_array_equal(_native.roc_get_rows_bits(words, offsets, starts, list_offsets, universe, r),
                                      values[r])
    alone = [np.sort(rng.choice(universe, n, replace=False)).astype(np.uint64) for _ in range(5)]
    for ids in alone:  # one list, one stream: the exact start-up leaves a few bits over the bound
        w, o = _native.roc_encode_bits(ids, universe, np.array([n]), np.array([0, 1]))
        exact = (lgamma(universe + 1) - lgamma(n + 1) - lgamma(universe - n + 1)) / log(2)
        if 2 * n <= universe:  # (dense lists cost about a bit an id in any ROC)
            assert o[1] <= exact + (12 if universe < 2**32 else 40), (o[1], exact)
        predicted = _native.roc_predicted_bits(universe, np.array([n]), np.array([0, 1]))[0]
        assert exact - 2 <= predicted <= exact + 1  # floor of a sum of 2^-16 steps
        np.testing.assert_array_equal(_native.roc_get_rows_bits(w, o, np.array([0, 1]), np.array([0, n]), universe,
                                                                np.arange(n)), ids)


def rows_or_refusal(words, offsets, starts, list_offsets, universe, rows):
    try:
        return _native.roc_get_rows_bits(words, offsets, starts, list_offsets, universe, rows)
    except _native.CorruptData:
        return None


@pytest.mark.parametrize("min_ids", [1, 64, 300])
@pytest.mark.parametrize("universe", [1100, 10**6, 2**31, 2**31 + 1])
def test_roc_streams_across_simd_lanes_give_the_ids_or_refusals_of_one_at_a_time(universe, min_ids, simd_level):
    """Bit streams decode across 16 (AVX-512) or 8 (AVX2) lanes, a list of each stream a phase,
    in batches alike in lists and lengths: each lane leaves the shared steps at its own last table
    step (lists that differ by one id, the longest a lane takes, 1,024 ids, and one past it, which
    the one-stream decoder takes; a batch short of lanes); streams of one list, or lists chained
    to 64 or 300 ids (empty lists among them, which take no step), decoded whole or down to the
    first list a row needs; the universes around 2^31, past which the steps are not tabulated
    and the lanes not used. Rows in order, in any order and repeated, and in the streams' last
    lists only; then single flipped bits in one stream of a batch: the same ids, or the same
    refusal, as the scalar decoder, one stream at a time."""
    rng = np.random.default_rng(universe % 1009 + min_ids)
    sizes = np.array([1, 2, 3, 15, 16, 17, 243, 244, 245, 1023, 1024, 1025, 5, 500, 0, 64, 65, 0, 0]
                     + list(rng.integers(0, 700, 21)) + list(rng.integers(0, 40, 30)))
    lists = [np.sort(rng.choice(universe, int(k), replace=False)).astype(np.uint64) for k in sizes]
    values = np.concatenate(lists)
    list_offsets = np.concatenate([[0], np.cumsum(sizes)])
    starts = _native.roc_groups(sizes, min_ids)
    words, offsets = _native.roc_encode_bits(values, universe, sizes, starts)
    rows = rng.integers(0, len(values), 3000)
    last_lists = np.concatenate([np.arange(list_offsets[e - 1], list_offsets[e]) for e in starts[1:]])
    for r in (np.arange(len(values)), rows, np.sort(rows), last_lists):
        np.testing.assert_array_equal(_native.roc_get_rows_bits(words, offsets, starts, list_offsets, universe, r),
                                      values[r])
    level = _native.simd_level()
    for _ in range(12):
        bad = words.copy()
        stream = rng.choice(np.flatnonzero(np.diff(offsets)))
        bit = int(rng.integers(offsets[stream], offsets[stream + 1]))
        bad[bit // 32] ^= np.uint32(1 << (bit % 32))
        here = rows_or_refusal(bad, offsets, starts, list_offsets, universe, np.arange(len(values)))
        _native.set_simd_level("scalar")
        try:
            alone = rows_or_refusal(bad, offsets, starts, list_offsets, universe, np.arange(len(values)))
        finally:
            _native.set_simd_level(level)
        assert (here is None) == (alone is None)
        if here is not None:
            np.testing.assert_array_equal(here, alone)


@pytest.mark.parametrize("k", [0, 1, 3, 7, 15])
def test_rice_codes_round_trip_and_refuse_short_or_crafted_words(k):
    """Signed values around a center, near and far (a run of ones across words), round trip;
    the words cut short, or ones with no end, are refused, not read past."""
    rng = np.random.default_rng(k)
    center = int(rng.integers(-50, 50))
    values = center + np.concatenate([rng.integers(-3, 4, 500), [0, -1, 1, 130 << k, -(100 << k), 2000 << k]])
    rng.shuffle(values)
    words = _native.rice_encode(values, center, k)
    np.testing.assert_array_equal(_native.rice_decode(words, len(values), center, k), values)
    assert len(_native.rice_decode(words, 0, center, k)) == 0
    with pytest.raises(ValueError):
        _native.rice_decode(words[:len(words) // 2], len(values), center, k)
    with pytest.raises(ValueError):  # all ones: a run longer than any encoder writes
        _native.rice_decode(np.full(100, 2**64 - 1, np.uint64), 1, center, k)
    with pytest.raises(ValueError):  # a value too far out for k is not written
        _native.rice_encode(np.array([center + (10**6 << k)]), center, k)
    for trial in range(50):  # random words: values or a refusal
        try:
            _native.rice_decode(rng.integers(0, 2**63, int(rng.integers(0, 5)), dtype=np.uint64), 20, center, k)
        except ValueError:
            pass


def test_roc_lists_past_the_prediction_table_round_trip():
    """Lists longer than 65,536 ids are predicted by the bound's leading terms (no table as long
    as the list): their streams' lengths differ from it by more, and still round trip."""
    rng = np.random.default_rng(11)
    list_offsets = np.array([0, 5, 70_005, 70_105, 300_000], np.int64)
    ids = rng.permutation(300_000).astype(np.int64)
    sections, header, order = encode_ids("roc", ids, list_offsets)
    codec = open_codec(sections, header, list_offsets)
    np.testing.assert_array_equal(codec.decode_all(), ids[order])
    rows = rng.integers(0, 300_000, 1000)
    np.testing.assert_array_equal(codec.ids_of(rows), ids[order][rows])


def test_roc_files_of_16_list_word_streams_still_read():
    """The layout before bit streams: word streams of 16 lists (id_roc_group), at Elias-Fano
    coded word offsets, read through the codec."""
    rng = np.random.default_rng(9)
    sizes = rng.integers(0, 90, 40)
    list_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = rng.permutation(int(list_offsets[-1])).astype(np.int64)
    lists = [np.sort(ids[a:b]).astype(np.uint64) for a, b in zip(list_offsets[:-1], list_offsets[1:])]
    streams = [_native.roc_encode(np.concatenate(lists[g:g + 16]), len(ids), sizes[g:g + 16])
               for g in range(0, len(lists), 16)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(np.uint64)
    sections = {"id_roc": np.concatenate(streams), "id_roc_offsets": _native.ef_encode(offsets, int(offsets[-1]) + 1)}
    codec = open_codec(sections, {"id_codec": "roc", "id_universe": len(ids), "id_roc_group": 16}, list_offsets)
    np.testing.assert_array_equal(codec.decode_all(), np.concatenate(lists).astype(np.int64))
    rows = rng.integers(0, len(ids), 300)
    np.testing.assert_array_equal(codec.ids_of(rows, threads=2), np.concatenate(lists).astype(np.int64)[rows])


def test_roc_bit_stream_headers_that_disagree_with_the_data_are_refused():
    """The lengths come from the list sizes and the header: a total past the words, a Rice
    center, parameter or grouping other than written is a corrupt index."""
    rng = np.random.default_rng(10)
    sizes = rng.integers(20, 200, 30)
    list_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = rng.permutation(int(list_offsets[-1])).astype(np.int64)
    sections, header, order = encode_ids("roc", ids, list_offsets)
    assert header["id_roc_layout"] == "bits" and header["id_roc_min_ids"] == 64
    np.testing.assert_array_equal(open_codec(sections, header, list_offsets).decode_all(), ids[order])
    for key, value in (("id_roc_bits", header["id_roc_bits"] + 1), ("id_roc_bits", 10**12),
                       ("id_roc_length_center", header["id_roc_length_center"] + 1),
                       ("id_roc_length_rice", header["id_roc_length_rice"] + 1), ("id_roc_length_rice", 99),
                       ("id_roc_length_rice", 2**31),
                       ("id_roc_min_ids", 0)):
        with pytest.raises(VtoolError, match="corrupt ROC ids"):
            open_codec(sections, {**header, key: value}, list_offsets).decode_all()
    regrouped = {**header, "id_roc_min_ids": 1000}  # streams read as other groups: refused when decoded
    with pytest.raises(VtoolError, match="corrupt ROC ids"):
        open_codec(sections, regrouped, list_offsets).decode_all()


def test_roc_files_with_one_stream_a_list_still_read():
    """Before chained streams (no id_roc_group in the header) each list was its own stream."""
    rng = np.random.default_rng(8)
    sizes = [3, 0, 250, 40]
    list_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = rng.permutation(int(list_offsets[-1])).astype(np.int64)
    lists = [np.sort(ids[a:b]).astype(np.uint64) for a, b in zip(list_offsets[:-1], list_offsets[1:])]
    streams = [_native.roc_encode(v, len(ids)) for v in lists]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(np.uint64)
    sections = {"id_roc": np.concatenate(streams), "id_roc_offsets": _native.ef_encode(offsets, int(offsets[-1]) + 1)}
    codec = open_codec(sections, {"id_codec": "roc", "id_universe": len(ids)}, list_offsets)
    np.testing.assert_array_equal(codec.decode_all(), np.concatenate(lists).astype(np.int64))


def test_roc_rows_decode_each_touched_list_in_one_call():
    """Rows of ROC-coded lists, in any order, against the lists themselves; a row past the end
    or offsets past the stream are refused."""
    rng = np.random.default_rng(4)
    universe, lists = 10**6, [random_set(rng, 10**6, n) for n in (0, 1, 300, 77, 1000)]
    streams = [_native.roc_encode(ids, universe) for ids in lists]
    data = np.concatenate(streams)
    word_offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])])
    list_offsets = np.concatenate([[0], np.cumsum([len(ids) for ids in lists])])
    values = np.concatenate(lists)
    rows = rng.integers(0, len(values), 2000)
    np.testing.assert_array_equal(_native.roc_get_rows(data, word_offsets, list_offsets, universe, rows), values[rows])
    with pytest.raises(ValueError):
        _native.roc_get_rows(data, word_offsets, list_offsets, universe, np.array([len(values)]))
    bad = word_offsets.copy()
    bad[-1] += 5
    with pytest.raises(ValueError):
        _native.roc_get_rows(data, bad, list_offsets, universe, np.array([len(values) - 1]))


def test_a_search_grid_over_corrupt_ids_says_so_and_a_row_past_the_lists_says_that():
    """The one-pass ids_at (dense ids) tells a corrupt codec from a row out of range."""
    rng = np.random.default_rng(12)
    n = 5000
    offsets = np.concatenate([[0], np.cumsum(rng.multinomial(n, np.full(10, 0.1)))]).astype(np.int64)
    sections, header, _ = encode_ids("ef", rng.permutation(n), offsets)
    sections = {k: v.copy() for k, v in sections.items()}
    sections["id_ef"][:] = np.iinfo(np.uint64).max  # every word corrupt
    codec = open_codec(sections, header, offsets)
    with pytest.raises(VtoolError, match="corrupt ef ids"):
        codec.ids_at(np.array([[1, 2], [3, -1]]))
    with pytest.raises(VtoolError, match="row out of range"):
        codec.ids_at(np.array([[n, 0]]))


def split_lists_case(rng):
    """Lists around the split size, a long one past the SIMD lanes' limit, an empty one, and one
    whose ids all lie in one quarter of the universe (three empty parts)."""
    least = ids_module.ROC_SPLIT_MIN
    sizes = [0, least - 1, least, least + 44, 1000, 1500, 64, 3]
    n = sum(sizes) + 400
    ids = rng.permutation(n).astype(np.int64)
    quarter = np.sort(ids[ids < n // 4])[:400]  # one list of the first quarter's ids
    rest = ids[~np.isin(ids, quarter)]
    lists, at = [], 0
    for size in sizes:
        lists.append(rest[at:at + size])
        at += size
    lists.append(quarter)
    list_offsets = np.concatenate([[0], np.cumsum([len(v) for v in lists])]).astype(np.int64)
    return np.concatenate(lists), list_offsets


def test_roc_lists_split_in_parts_round_trip_at_every_level(simd_level):
    """Lists of at least ROC_SPLIT_MIN ids are coded as four sets, a quarter of the universe
    each: rows of any list, in any order, on one or two threads, give the ids of one set a list."""
    rng = np.random.default_rng(12)
    ids, list_offsets = split_lists_case(rng)
    sections, header, order = encode_ids("roc", ids, list_offsets)
    assert header["id_roc_split_parts"] == ids_module.ROC_SPLIT_PARTS
    assert header["id_roc_split_min"] == ids_module.ROC_SPLIT_MIN
    codec = open_codec(sections, header, list_offsets)
    assert (codec.split_of >= 0).sum() == 5  # all but 0, least - 1, 64 and 3 (the quarter's 400 too)
    np.testing.assert_array_equal(codec.decode_all(), ids[order])
    rows = rng.integers(0, len(ids), 5000)
    for threads in (1, 2):
        np.testing.assert_array_equal(codec.ids_of(rows, threads=threads), ids[order][rows])
    grid = np.where(rng.random((50, 10)) < 0.1, -1, rng.integers(0, len(ids), (50, 10)))
    np.testing.assert_array_equal(codec.ids_at(grid, 2), np.where(grid >= 0, ids[order][grid], -1))
    sparse = np.sort(rng.choice(2**40, len(ids), replace=False)).astype(np.int64)[rng.permutation(len(ids))]
    sections, header, order = encode_ids("roc", sparse, list_offsets)  # ranks coded, an id table
    np.testing.assert_array_equal(open_codec(sections, header, list_offsets).ids_of(rows), sparse[order][rows])


def test_roc_split_headers_and_sections_that_disagree_are_refused():
    """Part counts, the split's size and parts, and its sections are checked before a row is
    decoded: a crafted value or a missing section is a corrupt index."""
    rng = np.random.default_rng(13)
    ids, list_offsets = split_lists_case(rng)
    sections, header, order = encode_ids("roc", ids, list_offsets)
    for key, value in (("id_roc_split_parts", 0), ("id_roc_split_parts", 65), ("id_roc_split_parts", 3),
                       ("id_roc_split_min", 0), ("id_roc_split_min", header["id_roc_split_min"] + 1),
                       ("id_roc_part_count_rice", 63),
                       ("id_roc_part_count_rice", header["id_roc_part_count_rice"] + 1),
                       ("id_roc_parts_bits", header["id_roc_parts_bits"] + 1),
                       ("id_roc_parts_length_center", header["id_roc_parts_length_center"] + 1)):
        with pytest.raises(VtoolError, match="corrupt ROC ids"):
            open_codec(sections, {**header, key: value}, list_offsets).decode_all()
    for name in ("id_roc_parts", "id_roc_parts_offsets", "id_roc_part_counts"):
        with pytest.raises(VtoolError, match="corrupt ROC ids"):
            open_codec({k: v for k, v in sections.items() if k != name}, header, list_offsets)
    counts = sections["id_roc_part_counts"].copy()
    counts[0] ^= np.uint64(1 << 5)  # a part's count off: refused or, where it still adds up, the streams disagree
    with pytest.raises(VtoolError, match="corrupt ROC ids"):
        open_codec({**sections, "id_roc_part_counts": counts}, header, list_offsets).decode_all()
    assert ids_module.check_id_sections({**sections, "id_roc_parts": np.zeros(3, np.uint64)}, header, len(ids))
    old = {k: v for k, v in header.items() if not k.startswith(("id_roc_split", "id_roc_part"))}
    with pytest.raises(VtoolError, match="corrupt ROC ids"):  # read as unsplit: the main streams disagree
        open_codec(sections, old, list_offsets).decode_all()


def test_roc_rows_are_placed_in_the_main_lists_or_the_parts_in_order_only():
    list_offsets = np.array([0, 3, 10, 12], np.int64)  # list 1 split in parts of 4 and 3 rows
    split_of, main_offsets = np.array([-1, 0, -1]), np.array([0, 3, 3, 5], np.int64)
    first, part_offsets = np.array([[0, 4, 7]], np.int64), np.array([0, 4, 7], np.int64)
    placed, part = _native.roc_place_rows(list_offsets, split_of, main_offsets, first, part_offsets,
                                          np.array([0, 2, 3, 6, 7, 9, 10, 11]))
    np.testing.assert_array_equal(placed, [0, 2, 0, 3, 4, 6, 3, 4])
    np.testing.assert_array_equal(part, [-1, -1, 0, 0, 1, 1, -1, -1])
    for rows in ([3, 2], [12], [-1]):
        with pytest.raises(ValueError):
            _native.roc_place_rows(list_offsets, split_of, main_offsets, first, part_offsets, np.array(rows))


def test_roc_rows_are_cut_for_threads_where_streams_begin_at_about_equal_work():
    list_offsets = np.array([0, 100, 110, 120, 300, 400], np.int64)
    starts = np.array([0, 1, 3, 4, 5], np.int64)  # streams: list 0, lists 1-2, list 3, list 4
    rows = np.array([5, 50, 105, 115, 200, 250, 399])
    cuts = _native.roc_cuts(list_offsets, starts, rows, 2)  # work 100 | 20 | 180 | 100: cut before list 3
    np.testing.assert_array_equal(cuts, [0, 4, 7])
    np.testing.assert_array_equal(_native.roc_cuts(list_offsets, starts, rows, 1), [0, 7])
    assert _native.roc_cuts(list_offsets, starts, rows[:1], 3).tolist() == [0, 0, 1, 1]  # pieces may be empty
    for bad_rows, bad_starts in (([105, 5], starts), ([400], starts), ([1], np.array([0, 3, 1, 5])),
                                 ([1], np.array([0, 4]))):
        with pytest.raises(ValueError):
            _native.roc_cuts(list_offsets, bad_starts, np.array(bad_rows), 2)
