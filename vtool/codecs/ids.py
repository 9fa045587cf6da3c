"""Id codecs: how an index stores the user id of each row.

A codec codes groups of integer sets given by their offsets: the lists of an inverted file
today (list_offsets), a graph node's neighbours tomorrow; within a group the order carries
no information, so the set codecs sort it (and the caller reorders its rows to match).
Every codec answers ids_of(rows) (the final top-k of a search) and decode_all(). Ids are
arbitrary int64; when they are not exactly 0..N-1, a global sorted id table (Elias-Fano)
maps ranks to ids and the codecs code ranks, so dense-id codecs work for any ids.

    int64    8 bytes per id, in row order (the uncompressed baseline)
    packed   ceil(log2 N) bits per id, row order kept; random access
    ef       Elias-Fano per list, ids sorted within each list (rows reordered); random access
    roc      Random Order Coding (bits-back rANS) of lists, sorted, a bit stream a list (lists
             shorter than 64 ids chained until a stream holds 64); a row's list is decoded
             whole (once per search for all the rows it holds)
    wt       a wavelet matrix over "list of the id of rank i": the j-th smallest id of list l
             is select_l(j); Huffman-shaped (list l coded in its Huffman length, about
             N H(list sizes) bits) or fixed (N ceil(log2 nlist) bits), whichever is smaller;
             the rank/select aid is computed on opening, not stored; random access

Sections: int64 `ids`; packed `id_packed` (uint64 words); ef `id_ef` (uint64 words) and
`id_ef_offsets`, the word offsets of its lists (one more than the lists), Elias-Fano coded
(uint64 words), a dozen bits a list, not 64; roc `id_roc` (uint32 words) and
`id_roc_offsets` (uint64 words). roc files with "id_roc_layout": "bits" hold bit streams
back to back, grouped by "id_roc_min_ids", and their offsets section codes each stream's
length less the length predicted from its lists' sizes (vt_roc_predicted_bits), Rice-coded
around "id_roc_length_center" with parameter "id_roc_length_rice" (a few bits a stream);
"id_roc_bits" is their total. Lists of at least "id_roc_split_min" ids (absent: none) are
coded in "id_roc_split_parts" sets, the ids of each equal part of the universe (width
ceil(N / parts)) a list of its own, their streams in `id_roc_parts` and `id_roc_parts_offsets`
(fields "id_roc_parts_bits", "_length_center", "_length_rice" as above) and the parts' counts
in `id_roc_part_counts`: each but the last part's difference from an even share, Rice-coded
around 0 with parameter "id_roc_part_count_rice" (the last holds the rest).
Files before hold word streams of "id_roc_group" lists (absent: 1) at Elias-Fano coded word
offsets. wt `id_wt` (uint64 words); with the id table, `id_table` (uint64 Elias-Fano words
of the sorted ids).
The header's "id_codec" names the codec and "id_universe" the universe of the coded values.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

import numpy as np

from vtool import _native
from vtool.errors import VtoolError
from vtool.workers import map_threads

METHODS = ("int64", "packed", "ef", "roc", "wt")
# ids a ROC bit stream holds at least (shorter lists chained): a stream costs about 2 bits over
# log2 C(N, n) and its length 4-5 more, so 64 ids keep roc within 0.1 bit an id of the bound
ROC_MIN_IDS = 64
# lists of at least ROC_SPLIT_MIN ids are coded in ROC_SPLIT_PARTS sets, one a part of the
# universe: a decoding step passes over a quarter of the set (a search's rows of the synthetic
# 1M IVF4096 index: 11.6 -> 6.5 ms; from 256 ids 7.1, from 64 7.9 as more parts chain); the
# parts' counts and streams cost about what the split saves (1M: 0.019 -> 0.049 bits an id
# over the bound; GloVe IVF4096, whose lists' ids are uneven over the universe: 0.062 -> -0.024)
ROC_SPLIT_MIN, ROC_SPLIT_PARTS = 128, 4


def _bit_width(v: int) -> int:
    return max(int(v).bit_length(), 1)


class IdCodec(ABC):
    """Decoder side: built from an index's sections and header."""

    name = "int64"
    random_access = True  # a row's id costs the same alone as in a batch (compress-ids' auto choice)
    ids_per_chunk = True  # a search resolves each chunk's rows as the chunk ends; else all its rows at once
    # fewer rows are resolved on one thread: handing the parts to the workers costs more than
    # it saves (GloVe IVF4096 on two threads, ef / wt: 10k rows 0.88 / 0.91x, 20k 1.07 / 1.29x,
    # 40k 1.16 / 1.02x; a search's chunk there is 10k rows)
    parallel_rows = 1 << 15

    def __init__(self, sections: dict[str, np.ndarray], header: dict, list_offsets: np.ndarray):
        self.sections, self.header = sections, header
        self.list_offsets = np.asarray(list_offsets, dtype=np.int64)
        self.universe = int(header.get("id_universe", 0))
        self.table = sections.get("id_table")
        self.table_universe = int(header.get("id_table_universe", 0))

    @property
    def n(self) -> int:
        return int(self.list_offsets[-1])

    def ids_of(self, rows: np.ndarray, threads: int = 1) -> np.ndarray:
        """The ids of rows; on several threads for a large batch (a search's final top-k)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n):
            raise VtoolError("row out of range for the id codec")
        return self._to_ids(self._values_of(rows, threads if len(rows) >= self.parallel_rows else 1))

    def ids_at(self, pos: np.ndarray, threads: int = 1) -> np.ndarray:
        """The ids of a search's result rows, any shape, -1 (an empty slot) staying -1: in one
        native pass where the codec has one and no id table maps its values (a mask, a
        compress, a scatter and the copies around the decoder took 0.2-0.34 ms a search's
        chunk, as much as int64's whole gather)."""
        if self.table is None:
            try:
                ids = self._ids_at(pos, threads if pos.size >= self.parallel_rows else 1)
            except ValueError:
                if pos.size and pos.max() >= self.n:
                    raise VtoolError("row out of range for the id codec") from None
                raise VtoolError(f"corrupt {self.name} ids") from None
            if ids is not None:
                return ids
        ids = np.full(pos.shape, -1, dtype=np.int64)
        ids[pos >= 0] = self.ids_of(pos[pos >= 0], threads)
        return ids

    def _ids_at(self, pos: np.ndarray, threads: int) -> np.ndarray | None:
        """The values of rows of any shape, -1 for rows < 0, in one native pass; None: no such pass."""
        return None

    def decode_all(self, threads: int = 1) -> np.ndarray:
        return self.ids_of(np.arange(self.n), threads)

    @abstractmethod
    def _values_of(self, rows: np.ndarray, threads: int) -> np.ndarray:
        """Coded values (ranks, or the ids themselves without a table) of the rows."""

    @staticmethod
    def _in_parts(values_of, rows: np.ndarray, cuts, threads: int) -> np.ndarray:
        """values_of over rows[cuts[i]:cuts[i + 1]] on threads, concatenated."""
        cuts = [int(c) for c in cuts]
        parts = map_threads(threads, lambda ab: values_of(rows[ab[0]:ab[1]]), zip(cuts[:-1], cuts[1:]))
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)

    def _to_ids(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.uint64)
        if self.table is None:
            return values.astype(np.int64)
        try:
            return _native.ef_get(self.table, self.n, self.table_universe, values.astype(np.int64)).astype(np.int64)
        except ValueError:
            raise VtoolError("corrupt id table") from None

    def bits(self) -> int:
        return 8 * sum(a.nbytes for a in self.sections.values())


class Int64Ids(IdCodec):
    name = "int64"
    parallel_rows = 1 << 20  # rows are one load each

    def _ids_at(self, pos, threads):
        """20,000 rows of a 1M table in 0.03-0.06 ms; threads only past parallel_rows (on two,
        those 20,000 rows took 0.13-0.19 ms: handing out the parts costs more than the gather)."""
        return _native.take_int64(self.sections["ids"], pos, threads)

    def _values_of(self, rows, threads):
        return self.sections["ids"][rows]

    def _to_ids(self, values):
        return np.asarray(values, dtype=np.int64)


class _OnePassRows(IdCodec):
    """A codec whose rows, any shape, come from one native pass (_rows; empty slots all ones),
    split in equal parts on threads."""
    label = ""

    def _values_of(self, rows, threads):
        try:
            return self._rows(rows, threads)
        except ValueError:
            raise VtoolError(f"corrupt {self.label} ids") from None

    def _ids_at(self, pos, threads):
        return self._rows(pos, threads).view(np.int64)  # ids below 2^63; an empty slot's all ones is -1

    @abstractmethod
    def _rows(self, rows: np.ndarray, threads: int) -> np.ndarray:
        """The values of rows (uint64), all ones where a row is < 0."""


class PackedIds(_OnePassRows):
    name, label = "packed", "packed"

    def _rows(self, rows, threads):
        return _native.packed_get(self.sections["id_packed"], _bit_width(self.universe - 1), self.n, rows, threads)


class EliasFanoIds(_OnePassRows):
    """One stream a list, at word offsets Elias-Fano coded."""
    name, label = "ef", "Elias-Fano"

    def __init__(self, sections, header, list_offsets):
        super().__init__(sections, header, list_offsets)
        self.offsets = decode_offsets(sections["id_ef_offsets"], len(self.list_offsets), len(sections["id_ef"]))

    def _rows(self, rows, threads):
        return _native.ef_get_rows(self.sections["id_ef"], self.offsets, self.list_offsets, self.universe, rows,
                                   threads)


class _RocLists:
    """Rows of lists (list_offsets) coded in ROC streams, the stream of a row found by `starts`
    (the first list of each stream): decode(sorted rows) gives their values in one native call."""

    def __init__(self, decode, list_offsets: np.ndarray, starts: np.ndarray):
        self.decode, self.list_offsets, self.starts = decode, list_offsets, starts

    def values(self, rows: np.ndarray, threads: int) -> np.ndarray:
        """Rows sorted (a radix sort: 20,000 rows in 0.13 ms, np.argsort 0.23-0.3) so that each
        stream they touch is decoded once."""
        ordered, order = _native.sort_rows(rows, int(self.list_offsets[-1]))
        out = np.empty(len(rows), dtype=np.uint64)
        out[order] = _joined(decode_pieces(threads, [(self, piece) for piece in self.pieces(ordered, threads)]))
        return out

    def pieces(self, ordered: np.ndarray, threads: int) -> list[np.ndarray]:
        """Rows in order cut, on several threads, where a stream begins (no stream decoded
        twice), into pieces of about equal ids to decode (a search's rows crowd into some lists:
        cut into equal rows, GloVe IVF4096's took 0.86 and 3.7 ms, and two threads were slower
        than one)."""
        if threads <= 1 or not len(ordered):
            return [ordered]
        try:
            cuts = [int(c) for c in np.unique(_native.roc_cuts(self.list_offsets, self.starts, ordered, threads))]
        except ValueError:
            raise VtoolError("corrupt ROC ids") from None
        return [ordered[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def decode_pieces(threads: int, jobs: list[tuple[_RocLists, np.ndarray]]) -> list[np.ndarray]:
    """The values of each (lists, rows in order) job, on threads at once."""
    try:
        return map_threads(threads, lambda job: job[0].decode(job[1]), jobs)
    except ValueError:
        raise VtoolError("corrupt ROC ids") from None


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def _even_shares(n: np.ndarray, parts: int) -> np.ndarray:
    """Each list's n ids shared as evenly as integers allow among its parts (n x parts)."""
    n = np.asarray(n, np.int64)[:, None]
    return (n * np.arange(1, parts + 1)) // parts - (n * np.arange(parts)) // parts


def _rice_k(header: dict, key: str) -> int:
    k = int(header.get(key, -1))
    if not 0 <= k <= 62:  # (a crafted header: the native call takes a small int)
        raise VtoolError(f"corrupt ROC ids: Rice parameter {k}")
    return k


class RocIds(IdCodec):
    """Lists of at least "id_roc_split_min" ids (header; absent: none) are coded in
    "id_roc_split_parts" parts, the ids of each quarter of the universe (four parts) a set of
    its own: a part's set is decoded alone, and its steps pass over a quarter of the ids (a
    step's pass over the set was most of the decoding; ROC_SPLIT_MIN)."""

    name = "roc"
    random_access = False  # a stream is decoded in order (its last list first)
    ids_per_chunk = False  # so a search resolves all its rows at once: each stream decoded once
    parallel_rows = 8192  # the work is the streams the rows touch, hundreds of ids each

    def __init__(self, sections, header, list_offsets):
        super().__init__(sections, header, list_offsets)
        words, sizes = sections["id_roc"], np.diff(self.list_offsets)
        self.nparts = int(header.get("id_roc_split_parts", 1))
        split_min = int(header.get("id_roc_split_min", 0))
        bit_streams = header.get("id_roc_layout") == "bits"
        if not 1 <= self.nparts <= 64 or (self.nparts > 1 and (split_min < 1 or not bit_streams)):
            raise VtoolError(f"corrupt ROC ids: {self.nparts} parts of lists from {split_min} ids")
        split = sizes >= split_min if self.nparts > 1 else np.zeros(len(sizes), bool)
        main_sizes = np.where(split, 0, sizes)
        self.main_offsets = np.concatenate([[0], np.cumsum(main_sizes)]).astype(np.int64)
        try:
            if bit_streams:  # a group of lists from a rule over their sizes; lengths against predictions
                starts = _native.roc_groups(main_sizes, int(header.get("id_roc_min_ids", 0)))
                offsets = self._bit_offsets("id_roc", self.universe, main_sizes, starts)
                self.main = _RocLists(lambda rows: _native.roc_get_rows_bits(
                    words, offsets, starts, self.main_offsets, self.universe, rows), self.main_offsets, starts)
            else:  # files before: word streams of `group` lists
                group = int(header.get("id_roc_group", 1))  # files before groups: one stream a list
                if group < 1:
                    raise VtoolError(f"corrupt ROC ids: group of {group} lists")
                starts = np.arange(0, len(sizes) + group, group).clip(max=len(sizes))
                starts = np.unique(starts) if len(sizes) else np.zeros(1, np.int64)
                offsets = decode_offsets(sections["id_roc_offsets"], len(starts), len(words))
                self.main = _RocLists(lambda rows: _native.roc_get_rows(
                    words, offsets, self.main_offsets, self.universe, rows, group), self.main_offsets, starts)
            self.parts = self._open_parts(sections, header, sizes, split) if split.any() else None
        except ValueError:
            raise VtoolError("corrupt ROC ids") from None

    def _bit_offsets(self, prefix, universe, sizes, starts):
        """Each stream's bit offset: its predicted length plus the coded difference."""
        predicted = _native.roc_predicted_bits(universe, sizes, starts)
        total, k = int(self.header.get(f"{prefix}_bits", -1)), _rice_k(self.header, f"{prefix}_length_rice")
        lengths = predicted + _native.rice_decode(self.sections[f"{prefix}_offsets"], len(predicted),
                                                  int(self.header.get(f"{prefix}_length_center", 0)), k)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        if not 0 <= total <= 32 * len(self.sections[prefix]) or (lengths < 0).any() or offsets[-1] != total:
            raise VtoolError("corrupt ROC ids: stream lengths disagree with the data")
        return offsets

    def _open_parts(self, sections, header, sizes, split):
        """The parts of the split lists: their counts (each part's deviation from an even share,
        Rice-coded; the last part holds the rest), as lists of their own in universe ceil(N / parts)."""
        if any(s not in sections for s in ("id_roc_parts", "id_roc_parts_offsets", "id_roc_part_counts")):
            raise VtoolError("corrupt ROC ids: the parts of split lists are missing")
        p, k = self.nparts, _rice_k(header, "id_roc_part_count_rice")
        self.part_width = -(-self.universe // p)
        self.split_of = np.where(split, np.cumsum(split) - 1, -1)  # each list's number among the split ones
        n = sizes[split]
        counts = _even_shares(n, p)
        counts[:, :-1] += _native.rice_decode(sections["id_roc_part_counts"], len(n) * (p - 1), 0, k).reshape(-1, p - 1)
        counts[:, -1] = n - counts[:, :-1].sum(axis=1)
        if (counts < 0).any() or (counts > self.part_width).any():
            raise VtoolError("corrupt ROC ids: part counts disagree with the list sizes")
        self.part_first = np.concatenate([np.zeros((len(n), 1), np.int64), np.cumsum(counts, axis=1)], axis=1)
        part_sizes = counts.ravel()
        part_offsets = np.concatenate([[0], np.cumsum(part_sizes)]).astype(np.int64)
        starts = _native.roc_groups(part_sizes, int(header.get("id_roc_min_ids", 0)))
        offsets = self._bit_offsets("id_roc_parts", self.part_width, part_sizes, starts)
        words = sections["id_roc_parts"]
        return _RocLists(lambda rows: _native.roc_get_rows_bits(words, offsets, starts, part_offsets,
                                                                self.part_width, rows), part_offsets, starts)

    def _values_of(self, rows, threads):
        if self.parts is None:  # every row in the main streams, at its own row
            return self.main.values(rows, threads)
        ordered, order = _native.sort_rows(rows, self.n)  # in order, so are their places
        placed, part = _native.roc_place_rows(self.list_offsets, self.split_of, self.main_offsets, self.part_first,
                                              self.parts.list_offsets, ordered)
        whole = part < 0
        main = [(self.main, piece) for piece in self.main.pieces(placed[whole], threads)]
        got = decode_pieces(threads, main + [(self.parts, piece) for piece in self.parts.pieces(placed[~whole], threads)])
        values = np.empty(len(rows), dtype=np.uint64)  # (the pieces of both on the threads at once)
        values[whole] = _joined(got[:len(main)])
        values[~whole] = _joined(got[len(main):]) + part[~whole].astype(np.uint64) * np.uint64(self.part_width)
        out = np.empty(len(rows), dtype=np.uint64)
        out[order] = values
        return out


class WaveletIds(IdCodec):
    name = "wt"
    # all a search's rows at once: each distinct row selected once (GloVe's hubs recur across
    # chunks) and one hand-off to the threads, not one a chunk (a search's 20,000 rows, IVF4096,
    # reader open, two threads: GloVe 1.75 -> 1.56 ms, synthetic 1M 2.17 -> 1.98 ms)
    ids_per_chunk = False
    # a search's chunk of 10,240 rows on two threads: 1.35-1.57x (GloVe and synthetic 1M
    # IVF4096, after a two-thread scan), now that a part is one native call (sort included)
    parallel_rows = 8192

    def __init__(self, sections, header, list_offsets):
        super().__init__(sections, header, list_offsets)
        self._reader: _native.WaveletReader | None = None
        self._reader_lock = threading.Lock()

    def reader(self) -> _native.WaveletReader:
        """The matrix opened for selects (its rank / select aid and list starts, computed once
        from the bits, a pass over them), the lists' lengths checked against the list offsets.
        Search threads ask for it as their chunks finish: the first opens it while the others
        keep scanning."""
        with self._reader_lock:
            if self._reader is None:
                try:
                    reader = _native.WaveletReader(self.sections["id_wt"], len(self.list_offsets) - 1)
                except ValueError:
                    raise VtoolError("corrupt wavelet-matrix ids") from None
                if not np.array_equal(reader.offsets, self.list_offsets):
                    raise VtoolError("corrupt wavelet-matrix ids: list lengths disagree with the list offsets")
                self._reader = reader
            return self._reader

    def _ids_at(self, pos, threads):
        """Rows put in order natively (vt_wm_reader_rows)."""
        return self.reader().select_rows(pos, threads)

    def _values_of(self, rows, threads):
        try:
            return self.reader().select_rows(rows, threads).astype(np.uint64)
        except ValueError:
            raise VtoolError("corrupt wavelet-matrix ids") from None

    def decode_all(self, threads: int = 1) -> np.ndarray:
        """A pass a level over every position (vt_wm_reader_decode_all), not a select a row:
        96-129 M ids/s at AVX-512, 40-66 M at the other levels (GloVe 200k and synthetic 1M, IVF4096),
        where the selects gave 6-7.6 M."""
        values = self.reader().decode_all()
        return values if self.table is None else self._to_ids(values)


def decode_offsets(words: np.ndarray, count: int, data_len: int) -> np.ndarray:
    """The count word offsets of per-list streams (Elias-Fano coded, below data_len + 1)."""
    try:
        offsets = _native.ef_decode(words, count, data_len + 1).astype(np.int64)
    except ValueError:
        raise VtoolError("corrupt codec offsets") from None
    if count and (offsets[0] != 0 or offsets[-1] != data_len):
        raise VtoolError("corrupt codec offsets")
    return offsets


CODECS = {c.name: c for c in (Int64Ids, PackedIds, EliasFanoIds, RocIds, WaveletIds)}
RANDOM_ACCESS = tuple(name for name, c in CODECS.items() if c.random_access)


def open_codec(sections: dict[str, np.ndarray], header: dict, list_offsets: np.ndarray) -> IdCodec:
    name = header.get("id_codec", "int64")
    if name not in CODECS:
        raise VtoolError(f"unknown id codec {name!r} in the index header")
    return CODECS[name](sections, header, list_offsets)


def encode_ids(method: str, ids: np.ndarray, list_offsets: np.ndarray) -> tuple[dict, dict, np.ndarray]:
    """Encode the ids of an index (row order). Returns (sections, header fields, row order):
    the new row order within each list (identity unless the codec sorts lists)."""
    if method not in CODECS:
        raise VtoolError(f"unknown id method {method!r}; choose {', '.join(METHODS)} or auto")
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    order = np.arange(n, dtype=np.int64)
    if method == "int64":
        return {"ids": ids}, {"id_codec": "int64"}, order
    sections: dict[str, np.ndarray] = {}
    dense = n == 0 or (int(ids.min()) == 0 and int(ids.max()) == n - 1)
    if dense:
        values = ids.astype(np.uint64)
    else:  # arbitrary ids: code their ranks, keep the sorted ids in an Elias-Fano table
        table = np.sort(ids)
        sections["id_table"] = _native.ef_encode(table.astype(np.uint64), int(table[-1]) + 1)
        values = np.searchsorted(table, ids).astype(np.uint64)
    universe = max(n, 1)
    header = {"id_codec": method, "id_universe": universe}
    if not dense:
        header["id_table_universe"] = int(ids.max()) + 1
    if method == "packed":
        sections["id_packed"] = _native.packed_encode(values, _bit_width(universe - 1))
        return sections, header, order
    if method == "wt":
        nlist = len(list_offsets) - 1
        sizes = np.diff(list_offsets)
        lists = np.repeat(np.arange(nlist, dtype=np.uint32), sizes)
        symbols = np.empty(n, dtype=np.uint32)
        symbols[values.astype(np.int64)] = lists
        fixed = _native.wm_build(symbols, (nlist - 1).bit_length())
        lens = huffman_lengths(sizes)
        shaped = _native.wm_build_shaped(symbols, lens) if lens is not None else fixed
        sections["id_wt"] = shaped if len(shaped) < len(fixed) else fixed
        for lst in range(nlist):  # rows sorted by id within each list, as select returns them
            a, b = int(list_offsets[lst]), int(list_offsets[lst + 1])
            order[a:b] = a + np.argsort(values[a:b], kind="stable")
        return sections, header, order
    nlist = len(list_offsets) - 1
    sorted_values = np.empty_like(values)
    for lst in range(nlist):  # rows sorted by id within each list
        a, b = int(list_offsets[lst]), int(list_offsets[lst + 1])
        local = np.argsort(values[a:b], kind="stable")
        order[a:b] = a + local
        sorted_values[a:b] = values[a:b][local]
    if method == "roc":
        sizes = np.diff(list_offsets)
        split = sizes >= ROC_SPLIT_MIN
        in_split = np.repeat(split, sizes)
        header.update({"id_roc_layout": "bits", "id_roc_min_ids": ROC_MIN_IDS})
        _roc_streams(sorted_values[~in_split], universe, np.where(split, 0, sizes), "id_roc", sections, header)
        if split.any():
            p, width = ROC_SPLIT_PARTS, -(-universe // ROC_SPLIT_PARTS)
            values = sorted_values[in_split]
            part = values // np.uint64(width)
            owner = np.repeat(np.arange(int(split.sum())), sizes[split])
            counts = np.bincount(owner * p + part.astype(np.int64), minlength=p * int(split.sum())).reshape(-1, p)
            _roc_streams(values - part * np.uint64(width), width, counts.ravel(), "id_roc_parts", sections, header)
            deviations = (counts - _even_shares(sizes[split], p))[:, :-1].ravel()
            k = _rice_parameter(deviations, 0)
            sections["id_roc_part_counts"] = _native.rice_encode(deviations, 0, k)
            header.update({"id_roc_split_min": ROC_SPLIT_MIN, "id_roc_split_parts": p, "id_roc_part_count_rice": k})
        return sections, header, order
    streams, offsets = [], [0]
    for lst in range(nlist):  # one Elias-Fano stream a list
        a, b = int(list_offsets[lst]), int(list_offsets[lst + 1])
        stream = _native.ef_encode(sorted_values[a:b], universe)
        streams.append(stream)
        offsets.append(offsets[-1] + len(stream))
    sections["id_ef"] = np.concatenate(streams).astype(np.uint64) if streams else np.zeros(0, np.uint64)
    sections["id_ef_offsets"] = _native.ef_encode(np.asarray(offsets, dtype=np.uint64), offsets[-1] + 1)
    return sections, header, order


def _rice_parameter(values: np.ndarray, center: int) -> int:
    """The Rice parameter that codes these values around center in the fewest bits."""
    zig = np.abs(np.asarray(values, np.int64) - center) * 2  # (within one of the zigzag code: enough to choose k)
    return min(range(16), key=lambda k: int((zig >> k).sum()) + len(zig) * (k + 1))


def _roc_streams(sorted_values: np.ndarray, universe: int, sizes: np.ndarray, prefix: str, sections: dict,
                 header: dict) -> None:
    """ROC bit streams of lists (shorter ones chained to ROC_MIN_IDS ids) into sections[prefix],
    each stream's length less its prediction Rice-coded into sections[prefix + "_offsets"]."""
    starts = _native.roc_groups(sizes, ROC_MIN_IDS)
    words, offsets = _native.roc_encode_bits(sorted_values, universe, sizes, starts)
    differences = np.diff(offsets) - _native.roc_predicted_bits(universe, sizes, starts)
    center = int(np.median(differences)) if len(differences) else 0
    k = _rice_parameter(differences, center)
    sections[prefix] = words
    sections[f"{prefix}_offsets"] = _native.rice_encode(differences, center, k)
    header.update({f"{prefix}_bits": int(offsets[-1]), f"{prefix}_length_center": center,
                   f"{prefix}_length_rice": k})


def huffman_lengths(counts: np.ndarray, limit: int = 32) -> np.ndarray | None:
    """Huffman code lengths of symbols with these counts (0 for a count of 0; ties to the
    smaller symbol, so the lengths are the same on every machine); None past `limit` bits."""
    import heapq

    counts = np.asarray(counts, dtype=np.int64)
    present = np.flatnonzero(counts)
    lens = np.zeros(len(counts), dtype=np.uint8)
    if len(present) <= 1:
        lens[present] = 1
        return lens
    heap = [(int(counts[s]), t, t) for t, s in enumerate(present)]  # (count, order, node): leaves first
    parent = np.full(2 * len(present) - 1, -1, dtype=np.int64)
    heapq.heapify(heap)
    node = len(present)
    while len(heap) > 1:
        c0, _, a = heapq.heappop(heap)
        c1, _, b = heapq.heappop(heap)
        parent[a] = parent[b] = node
        heapq.heappush(heap, (c0 + c1, node, node))
        node += 1
    depth = np.zeros(len(parent), dtype=np.int64)
    for v in range(len(parent) - 2, -1, -1):  # parents are numbered after their children
        depth[v] = depth[parent[v]] + 1
    if depth[:len(present)].max() > limit:
        return None
    lens[present] = depth[:len(present)]
    return lens


def id_sections(header: dict) -> tuple[str, ...]:
    """The section names an id codec owns."""
    name = header.get("id_codec", "int64")
    base = {"int64": ("ids",), "packed": ("id_packed",), "ef": ("id_ef", "id_ef_offsets"),
            "roc": ("id_roc", "id_roc_offsets"), "wt": ("id_wt",)}.get(name, ())
    if name == "roc" and header.get("id_roc_split_parts", 1) != 1:
        base += ("id_roc_parts", "id_roc_parts_offsets", "id_roc_part_counts")
    return base + (("id_table",) if name != "int64" else ())


SECTION_DTYPES = {"ids": "<i8", "id_packed": "<u8", "id_ef": "<u8", "id_ef_offsets": "<u8", "id_roc": "<u4",
                  "id_roc_offsets": "<u8", "id_roc_parts": "<u4", "id_roc_parts_offsets": "<u8",
                  "id_roc_part_counts": "<u8", "id_wt": "<u8", "id_table": "<u8"}


def check_id_sections(arrays: dict[str, np.ndarray], header: dict, n: int) -> str | None:
    """What is wrong with an id codec's sections (present, 1-d, of their dtype), or None; the
    decoders check the contents as they read them."""
    name = header.get("id_codec", "int64")
    if name not in CODECS:
        return f"unknown id codec {name!r}"
    for section in id_sections(header):
        a = arrays.get(section)
        if a is None:
            if section == "id_table":
                continue  # ids that are exactly the row numbers need no table
            return f"the {name} id codec's section {section!r} is missing"
        if a.dtype != np.dtype(SECTION_DTYPES[section]) or a.ndim != 1:
            return f"section {section!r} is {a.dtype.str} {a.shape}, expected 1-d {SECTION_DTYPES[section]}"
    if name == "int64" and len(arrays["ids"]) != n:
        return "ids do not match the list sizes"
    return None


def information_bounds(list_sizes: np.ndarray) -> dict:
    """Bits per id of the bounds: sum_i log2 C(N, n_i) / N and H(list sizes)."""
    from math import lgamma, log

    sizes = np.asarray(list_sizes, dtype=np.int64)
    n = int(sizes.sum())
    if n == 0:
        return {"log2_binomial_bits_per_id": 0.0, "entropy_bits_per_id": 0.0}
    ln2 = log(2)
    log_binom = sum((lgamma(n + 1) - lgamma(s + 1) - lgamma(n - s + 1)) / ln2 for s in sizes.tolist())
    p = sizes[sizes > 0] / n
    return {"log2_binomial_bits_per_id": log_binom / n, "entropy_bits_per_id": float(-(p * np.log2(p)).sum())}
