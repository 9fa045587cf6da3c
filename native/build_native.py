"""cffi build script: compiles native/*.c into the extension vtool._native_lib.

The public header vtool.h doubles as the cdef (its preprocessor lines dropped).
No -march flag: SIMD paths carry per-function target attributes and are chosen
at run time (dispatch.c), so one build runs on any x86-64 (and the scalar path
on anything else).
"""
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
# every C file of the folder (as pynacl globs its bindings): no list kept by hand
SOURCES = sorted(p.name for p in HERE.glob("*.c"))


def cdef_from_header(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(HERE / "vtool.h"))
ffibuilder.set_source(
    "vtool._native_lib",
    '#include "vtool.h"',
    sources=[str((HERE / s).relative_to(Path.cwd())) if (HERE / s).is_relative_to(Path.cwd())
             else str(HERE / s) for s in SOURCES],
    include_dirs=[str(HERE)],
    extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing", "-ffp-contract=off", "-Wall", "-Wno-unused-function"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
