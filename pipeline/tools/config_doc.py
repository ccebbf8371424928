"""docs/configuration.md, generated from `pipeline.config`: every setting of a run, by section, with
its flag, config-file key, default and help, so the page cannot drift from the code.

    python -m pipeline.tools.config_doc docs/configuration.md     # write it
    python -m pipeline.tools.config_doc --check docs/configuration.md   # exit 1 if it is out of date

```python
from pipeline.tools import config_doc
text = config_doc.markdown()
```
"""

import argparse
import dataclasses
import sys

from pipeline import config
from pipeline import usage

MARK = "<!-- generated from pipeline/config.py by python -m pipeline.tools.config_doc; do not edit -->"
INTRO = (
    "Every setting of `brillsson run` (and `python pipeline/run.py`): a flag, and a key of a YAML or JSON "
    "file given with `--config FILE` (flat keys such as `epochs: 40`, or one mapping per section such as "
    "`train: {epochs: 40}`). Flags on the command line win over the file. Booleans that are on by default "
    "are turned off with `--no-…`."
)


def _default(f):
    if f.default is None:
        return "—"
    if isinstance(f.default, (tuple, list)):
        return "`" + ",".join(str(v) for v in f.default) + "`"
    return f"`{f.default}`"


def _flag(f):
    name = (f.metadata.get("flag") or f.name).replace("_", "-")
    if f.type is bool or f.type == "bool":
        return f"`--no-{name}`" if f.default else f"`--{name}`"
    return f"`--{name}`"


def markdown() -> str:
    """The page's text."""
    lines = [MARK, "", "# Configuration", "", INTRO]
    sections = [(name, cls) for name, cls in config.SECTIONS.items()] + [(None, config.RunConfig)]
    for name, cls in sections:
        fields = [f for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(f.type)]
        lines += ["", f"## {name or 'run'}", "", "| flag | file key | default | what it does |", "|---|---|---|---|"]
        for f in fields:
            key = f"`{name}: {{{f.name}: …}}`" if name else f"`{f.name}`"
            text = f.metadata["help"].replace("|", "\\|")
            if f.metadata.get("experimental"):
                text = "*experimental:* " + text
            lines.append(f"| {_flag(f)} | {key} | {_default(f)} | {text} |")
    lines += [
        "",
        "## removed",
        "",
        "Settings of earlier versions that lost in the project's own studies "
        "(CHANGELOG.md). A flag or config file that still names one is refused with the reason.",
        "",
        "| flag | why it went |",
        "|---|---|",
    ]
    for name, why in config.REMOVED.items():
        setting, *value = [name] if isinstance(name, str) else name  # a setting, or (setting, removed value)
        flag = " ".join(["--" + setting.replace("_", "-"), *value])
        text = why.replace("|", "\\|")
        lines.append(f"| `{flag}` | {text} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.tools.config_doc", description=usage.summary(__doc__))
    p.add_argument("path", help="the Markdown file (docs/configuration.md)")
    p.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    a = p.parse_args(argv)
    text = markdown()
    if a.check:
        try:
            with open(a.path) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            print(f"error: {a.path} is out of date: python -m pipeline.tools.config_doc {a.path}", file=sys.stderr)
            return 1
        return 0
    from export.files import atomic_write

    atomic_write(a.path, text.encode())
    print(a.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
