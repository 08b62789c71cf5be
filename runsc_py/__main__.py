"""``python3 -m runsc_py``."""

from runsc_py.cli import main

if __name__ == "__main__":
    main(prog_name="runsc-py")
