"""install.py's parts, one module per job (docs/install.md, "The code").

install.py is the one file users run, always from the checkout it installs, so it can import
this package from beside it; standard library only (plus nst_contract, also standard library
only), like install.py itself.
"""
