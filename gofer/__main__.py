"""``python3 -m gofer --sock-fd N --root PATH[:ro] ...``: run a gofer server."""

import sys

from gofer.server import main

sys.exit(main())
