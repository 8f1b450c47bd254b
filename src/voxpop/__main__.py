"""``python -m voxpop``: the same as the ``voxpop`` command."""

from voxpop.cli import main

if __name__ == "__main__":
    main()
