"""`python -m service` is `orion-events`."""

import sys

from service.cli import main

sys.exit(main())
