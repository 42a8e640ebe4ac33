"""Griffe extension for the API reference: lay kosbert_viz's docstrings out for the numpy parser.

kosbert_viz's docstrings are written for ``help()`` and for doctest: numpy-style sections
(``Parameters`` / ``Returns`` ...) are often followed, after a blank line, by closing prose and
``>>>`` examples without a section header of their own. The numpy parser would read those lines as
more parameters (and drop them), and Markdown would read ``x[0][:3]`` in an example as a link.
This extension changes only how the reference page is laid out, never the package:

* prose after a parameter-like section goes under a "Notes" header, examples under "Examples";
* ``>>>`` examples outside an "Examples" section become fenced ``pycon`` code blocks;
* an "Example" header becomes "Examples", the one the numpy parser reads as code;
* Sphinx roles such as ``:func:`name``` are shown as code.
"""

from __future__ import annotations

import re

from griffe import Extension

# the numpy parser's list sections (its other headers become admonitions of plain Markdown)
_ITEM_SECTIONS = {
    "parameters",
    "other parameters",
    "type parameters",
    "returns",
    "yields",
    "receives",
    "raises",
    "warns",
    "attributes",
    "functions",
    "methods",
    "classes",
    "type aliases",
    "modules",
}
# one item of a numpy list: "name", "name : type", "a, b : type", "*args", or a bare type ("int")
_ITEM = re.compile(r"^\*{0,2}[A-Za-z_][\w.]*(, \*{0,2}[A-Za-z_][\w.]*)*\s*(:.*)?$")
_DASHES = re.compile(r"^\s*-{3,}\s*$")
# Sphinx roles (:func:`name`, :class:`~pkg.Name`) are not Markdown: shown as code
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj|const):`~?([^`]+)`")


def _is_header(lines: list[str], i: int) -> bool:
    return bool(lines[i].strip()) and i + 1 < len(lines) and bool(_DASHES.match(lines[i + 1]))


def lay_out(text: str) -> str:
    """Return ``text`` with headers added where a section ends early and examples fenced."""
    lines = text.split("\n")
    out: list[str] = []
    mode = "text"  # "text", "items" (parameter-like section), "examples"
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):  # an existing fence: copy it as it is
            out.append(line)
            i += 1
            while i < len(lines):
                out.append(lines[i])
                i += 1
                if out[-1].lstrip().startswith("```"):
                    break
            continue
        if _is_header(lines, i):
            name = line.strip().lower()
            if name == "example":  # the parser knows only the plural; its examples render as code
                line, name = line.replace("Example", "Examples"), "examples"
            mode = "items" if name in _ITEM_SECTIONS else "examples" if name == "examples" else "text"
            out += [line, "-" * len(line.strip())]
            i += 2
            continue
        starts_block = not out or not out[-1].strip()
        if mode == "items" and starts_block and line.strip() and not line.startswith(" "):
            if line.startswith(">>>"):
                out += ["Examples", "--------"]
                mode = "examples"
            elif not _ITEM.match(line):
                out += ["Notes", "-----"]
                mode = "text"
        if mode != "examples" and line.lstrip().startswith(">>>") and starts_block:
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += [f"{indent}```pycon", *block, f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return _ROLE.sub(r"``\1``", "\n".join(out))


class DocstringLayout(Extension):
    """Apply :func:`lay_out` to every docstring griffe loads."""

    def on_instance(self, *, obj, **kwargs) -> None:  # griffe calls this for every object
        doc = obj.docstring
        if doc is not None and (">>>" in doc.value or "---" in doc.value or ":`" in doc.value):
            doc.value = lay_out(doc.value)
