"""Sphinx configuration for the brace documentation."""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

import brace

# -- Project -----------------------------------------------------------------

project = "brace"
author = "The brace developers"
copyright = "the brace developers"
release = brace.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
# No sphinx.ext.intersphinx: the docs build must work without network access,
# so references to the standard library and to third-party packages stay
# plain text (see nitpick_ignore_regex below).

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc and napoleon ----------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options: dict[str, Any] = {"members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# -- Nitpicky cross-references ----------------------------------------------

nitpicky = True
_EXTERNAL = (
    r"(asyncio|collections|contextlib|datetime|random|selectors|time|types"
    r"|typing|anyio|trio|httpx|logging|structlog|prometheus_client"
    r"|opentelemetry)(\..*)?"
)
nitpick_ignore_regex = [
    # The standard library and third-party packages: without intersphinx
    # there is nothing to link to.
    (r"py:.*", _EXTERNAL),
    # Type variables of the generic signatures (ParamSpecs render as "~P").
    (r"py:.*", r"~?(brace\.[\w.]+\.)?[PTFEKVD]"),
]

# Private type aliases that appear in signatures (``Duration``, ``On``),
# wherever they are defined: they link to the paragraph of the reference
# index that explains them.
_ALIASES = {"Duration": "durations", "On": "retry-on"}


def _alias_reference(
    app: Sphinx, env: Any, node: Any, contnode: nodes.Element
) -> nodes.reference | None:
    """Resolve the private type aliases to the reference index."""
    target = node.get("reftarget", "")
    module, _, name = target.rpartition(".")
    if node.get("refdomain") != "py" or name not in _ALIASES:
        return None
    if module and not module.startswith("brace._"):
        return None
    uri = app.builder.get_relative_uri(node["refdoc"], "reference/index")
    ref = nodes.reference("", "", internal=True, refuri=f"{uri}#{_ALIASES[name]}")
    ref.append(contnode)
    return ref


# Public names whose own docstring would be wrong here: ``brace.retry`` and
# ``brace.timeout`` are the classes under a second, function-style name (the
# classes are documented once, under their own names), and ``__version__`` is
# a str, whose docstring is str's.
_ALIAS_DOCS = {
    "brace.retry": "The same object as :class:`Retry`, for decorator spelling: "
    "``@brace.retry(on=...)``.",
    "brace.timeout": "The same object as :class:`Timeout`, for function "
    "spelling: ``async with brace.timeout(5.0):``.",
    "brace.__version__": "The version of brace, a string such as ``0.1.0``.",
}


def _alias_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    if name in _ALIAS_DOCS:
        lines[:] = [_ALIAS_DOCS[name]]


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _alias_reference)
    app.connect("autodoc-process-docstring", _alias_docstring)


# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"brace {release}"
