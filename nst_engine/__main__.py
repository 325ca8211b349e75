"""``python -m nst_engine``: the command line (cli.main), its exit status the process's."""
import sys

from .cli import main

sys.exit(main())
