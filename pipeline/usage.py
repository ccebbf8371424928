"""What a command says about itself: the first paragraph of its module's docstring, for `--help`.

```python
import argparse
from pipeline import usage
p = argparse.ArgumentParser(prog="brillsson pareto", description=usage.summary(__doc__))
```

The first paragraph, not the first line: a summary that wraps onto a second line stays whole.
"""

from __future__ import annotations


def summary(doc: str | None) -> str:
    """The first paragraph of a docstring (up to its first blank line).

    Args:
        doc: a module's `__doc__`; None (docstrings stripped by `python -OO`) gives "".

    Returns:
        The paragraph, stripped of surrounding whitespace.
    """
    return (doc or "").strip().split("\n\n")[0]
