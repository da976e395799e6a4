"""Console entry point: ``streamrec`` (and ``python -m stream_apps``)."""

from __future__ import annotations

import sys


def main() -> int:
    from stream_apps.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
