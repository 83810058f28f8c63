"""Sphinx configuration of the numpyro-pl documentation.

Build from the repository root (the test suite runs the same command, tests/test_docs.py)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)  # document the working tree, installed or not

import numpyro_pl  # noqa: E402

project = "numpyro-pl"
author = "numpyro-pl developers"
copyright = "numpyro-pl developers"
version = release = numpyro_pl.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

# The narrative pages are Markdown, so that GitHub renders them too.
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# ```math fences are display math both here and on GitHub; anchors for links to sections.
myst_fence_as_directive = ["math"]
myst_heading_anchors = 3

# NumPyro's reST docstrings (:param:, :return:, .. math::, .. doctest::); no napoleon.
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings state the types
autodoc_default_options = {"show-inheritance": True}

# Alabaster, Sphinx's default theme: renders the API and MathJax well and adds no dependency.
html_theme = "alabaster"
html_theme_options = {"description": "Pseudo-Langevin sampling as a NumPyro kernel"}
html_static_path = []

# -- intersphinx -------------------------------------------------------------------------
# Sphinx (9.0 included) logs an unreachable inventory as a warning without a type, so
# suppress_warnings cannot silence it and -W fails on the network alone
# (https://github.com/sphinx-doc/sphinx/issues/14341). So each inventory is probed here and
# one that cannot be read is left out: its links are then plain text, every other warning
# still fails the build. NUMPYRO_PL_DOCS_OFFLINE=1 skips the probes (and intersphinx).
INTERSPHINX = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "jax": "https://docs.jax.dev/en/latest",
    "numpyro": "https://numpyro.readthedocs.io/en/stable",
    "arviz": "https://python.arviz.org/en/stable",
}
intersphinx_timeout = 10


def _inventory_readable(url):
    try:
        with urllib.request.urlopen(f"{url}/objects.inv", timeout=intersphinx_timeout) as response:
            return response.readline().startswith(b"# Sphinx inventory version")
    except Exception:  # any failure: build without this inventory
        return False


def _reachable_inventories():
    if os.environ.get("NUMPYRO_PL_DOCS_OFFLINE"):
        return {}
    with ThreadPoolExecutor(len(INTERSPHINX)) as pool:  # at most one timeout in all
        readable = dict(
            zip(INTERSPHINX, pool.map(_inventory_readable, INTERSPHINX.values()), strict=True)
        )
    for name, url in INTERSPHINX.items():
        if not readable[name]:
            print(f"intersphinx: {url}/objects.inv cannot be read; {name} links left out")
    return {name: (url, None) for name, url in INTERSPHINX.items() if readable[name]}


intersphinx_mapping = _reachable_inventories()


# -- links out of docs/ ------------------------------------------------------------------
def _outside_links_as_downloads(app, docname, source):
    """Markdown links from a page to a file outside ``docs/``, such as
    ``[table](../benchmarks/results/fig3d.md)``, work on GitHub; in this build they become
    download links (MyST's ``path:`` scheme) instead of references to unknown documents."""
    source[0] = re.sub(r"(?<!!)(\[[^\]]*\])\(\.\./", r"\1(path:../", source[0])  # not images


def _drop_namedtuple_field_aliases(app, what, name, obj, options, lines):
    """A NamedTuple field without a ``#:`` comment is documented by its name alone,
    not as "Alias for field number 0"; the class docstring describes the fields."""
    text = "\n".join(lines).strip()
    if what == "attribute" and re.fullmatch(r"Alias for field number \d+", text):
        lines.clear()


def setup(app):
    app.connect("source-read", _outside_links_as_downloads)
    app.connect("autodoc-process-docstring", _drop_namedtuple_field_aliases)
