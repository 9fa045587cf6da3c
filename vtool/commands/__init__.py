"""The library behind every command, one module each: a function per command that takes
plain arguments and returns a report (a dict; search also its arrays), callable from Python.
The CLI modules (vtool/cli/) only parse options, call these and print."""
