import pytest

from vtool.errors import VtoolError
from vtool.index.spec import parse_spec


@pytest.mark.parametrize("text,nlist", [("Flat", None), ("IVF1,Flat", 1), ("IVF1024,Flat", 1024), ("IVF256, Flat", 256)])
def test_supported_specs(text, nlist):
    spec = parse_spec(text)
    assert spec.nlist == nlist and spec.encoding == "Flat"


@pytest.mark.parametrize("text", ["", "flat", "IVF,Flat", "IVF0,Flat", "IVF-3,Flat", "IVF12", "IVF12,PQ8x",
                                  "IVF99999999999,Flat", "HNSW32", "Flat,Flat", "IVF12,Flat,"])
def test_malformed_or_unknown_specs_are_refused(text):
    with pytest.raises(VtoolError, match="index spec"):
        parse_spec(text)
