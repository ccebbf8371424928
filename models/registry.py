"""Named registries: configurable parts chosen by name (student families, baselines).

```python
from models.registry import registrar
FAMILIES = {}
register = registrar(FAMILIES)

@register("quicknet")
def quicknet(x, exits=3): ...
```
"""

from typing import Callable, Dict


def registrar(table: Dict[str, Callable]) -> Callable[[str], Callable[[Callable], Callable]]:
    """The decorator factory that adds functions to `table` by name.

    Args:
        table: the registry, {name: function}.

    Returns:
        `register(name)`: a decorator that puts the function into `table` under `name` and returns it
        unchanged.
    """

    def register(name: str) -> Callable[[Callable], Callable]:
        def wrap(fn):
            table[name] = fn
            return fn

        return wrap

    return register
