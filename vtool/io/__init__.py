"""Every file format vtool reads or writes. Nothing else opens a vector file."""
