"""The typed errors of the library; only the command line turns them into messages and exit codes.

```python
from models.errors import BrillssonError, ConfigError
try:
    students.build("resnet")
except ConfigError as e:       # also a ValueError
    print(f"error: {e}")
```
`pipeline.errors` adds the data and teacher errors; `export.layout` the error for an
output folder that is not a complete export.
"""


class BrillssonError(Exception):
    """Base of every error this project raises on purpose (bad input, not a bug)."""


class ConfigError(BrillssonError, ValueError):
    """A setting is invalid: an unknown name, a value out of range, a bad config file."""


def retired_command(module: str, subcommand: str) -> None:
    """For a module that used to be a command (`python -m MODULE`): print one `error:` line naming the
    `brillsson` subcommand that does its job and exit with status 2, instead of exiting 0 having done
    nothing.

    ```python
    if __name__ == "__main__":
        retired_command("pipeline.evaluate", "evaluate")
    ```

    Args:
        module: the module's dotted name, as it was run.
        subcommand: the `brillsson` subcommand that replaces it.

    Raises:
        SystemExit: always, with status 2.
    """
    import sys

    print(
        f"error: `python -m {module}` is no longer a command; use `brillsson {subcommand}` "
        f"(see `brillsson {subcommand} --help`)",
        file=sys.stderr,
    )
    raise SystemExit(2)
