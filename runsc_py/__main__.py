"""``python3 -m runsc_py``."""

from runsc_py.launch import entry

if __name__ == "__main__":
    entry()
