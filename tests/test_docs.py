"""The documentation builds with every warning an error (docs/, Sphinx with MyST)."""

import os
import subprocess
import sys

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def test_docs_build_without_warnings(tmp_path):
    # no importorskip: the test extra installs Sphinx, and a missing Sphinx must fail here
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", DOCS, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"sphinx-build failed ({result.returncode}):\n{log[-5000:]}"

    api = (out / "api.html").read_text(encoding="utf-8")
    assert 'id="numpyro_pl.PseudoLangevin"' in api
    assert 'id="numpyro_pl.diagnostics.to_arviz"' in api
    method = (out / "method.html").read_text(encoding="utf-8")
    assert "mathjax" in method.lower(), "no MathJax script on the method page"
    assert '<div class="math' in method, "no display math on the method page"
    assert r"\frac{\sigma_i^2 \Delta t^2}{4 r_i T m_1^2}" in method, "method page math missing"
