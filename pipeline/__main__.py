"""`python -m pipeline COMMAND …`: the `brillsson` command line (`pipeline.cli`)."""
from pipeline.cli import main

main()
