"""`python -m service` is `orion-events`."""

import sys

from service.cli import main

if __name__ == "__main__":  # not again in a child process that multiprocessing spawns
    sys.exit(main())
