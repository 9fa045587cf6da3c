"""Parquet access shared by the vector, code and result readers: page checksums verified where
the file has them (pyarrow's page_checksum_verification; vtool writes them, other writers may
not), and every read error turned into one line naming the file."""

from __future__ import annotations

from typing import Iterator

from vtool.errors import VtoolError

WRITE_OPTIONS = {"write_page_checksum": True}  # for every Parquet file vtool writes


def _message(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def open_parquet(path: str):
    """A pyarrow ParquetFile that verifies page checksums as it reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vtool.io import remote

    try:
        source = remote.open_url(path) if remote.is_url(path) else path  # row groups read in ranges
        return pq.ParquetFile(source, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as e:
        raise VtoolError(f"{path}: not a readable parquet file ({_message(e)})") from None


def read_batches(pf, path: str, **options) -> Iterator:
    """pf.iter_batches(**options), a corrupt page (bad checksum, undecodable) as one line."""
    import pyarrow as pa

    it = pf.iter_batches(**options)
    while True:
        try:
            rb = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            raise VtoolError(f"{path}: corrupt parquet data ({_message(e)})") from None
        yield rb


def read_table(path: str, **options):
    """The whole file as a table, checked as read_batches checks."""
    import pyarrow as pa

    pf = open_parquet(path)
    try:
        return pf.read(**options)
    except (pa.ArrowException, OSError) as e:
        raise VtoolError(f"{path}: corrupt parquet data ({_message(e)})") from None
