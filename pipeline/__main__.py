"""`python -m pipeline COMMAND …`: the `brillsson` command line (`pipeline.cli`)."""

import sys

from pipeline.cli import main

sys.exit(main())
