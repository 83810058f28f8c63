"""What every benchmark records beside its numbers: the machine, the library versions and
the version of the package that produced them."""

import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpyro

ROOT = Path(__file__).resolve().parents[1]


def machine(*modules) -> str:
    """One line: cores, CPU, device, and the versions of jax, numpyro, ``modules`` and Python."""
    with open("/proc/cpuinfo") as f:
        cpu = [line.split(":", 1)[1].strip() for line in f if "model name" in line]
    versions = ", ".join(f"{m.__name__} {m.__version__}" for m in (numpyro, *modules))
    return (
        f"nproc {len(os.sched_getaffinity(0))}; CPU {(cpu or ['?'])[0]}; jax {jax.__version__} "
        f"({jax.default_backend()}: {jax.devices()[0].device_kind}); {versions}; "
        f"Python {sys.version.split()[0]}"
    )


def package_version() -> str:
    """The commit, and the files of ``numpyro_pl/`` that differ from it."""
    git = ["git", "-C", str(ROOT)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(
            [*git, "status", "--short", "--", "numpyro_pl"], capture_output=True, text=True
        ).stdout.splitlines()
    except OSError:
        return "git unavailable"
    changed = ", ".join(line[3:] for line in dirty if line.strip()) or "none"
    return f"commit {commit.stdout.decode().strip()}; uncommitted in numpyro_pl/: {changed}"


def run_lines() -> list:
    """The lines that open a results file: the command as run (script and arguments), then
    the machine and the date (UTC), each followed by a blank line."""
    script = Path(sys.argv[0]).name
    return [
        "Command: `" + " ".join([f"python benchmarks/{script}", *sys.argv[1:]]) + "`",
        "",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}.",
        "",
    ]


def write_results(name: str, title: str, *lines: str) -> Path:
    """Write ``benchmarks/results/<name>.md``: the ``title`` as a heading, :func:`run_lines`,
    the :func:`package_version`, then ``lines`` (an empty one makes a blank line). Returns the
    path."""
    out = ROOT / "benchmarks" / "results" / f"{name}.md"
    out.write_text(
        "\n".join([f"# {title}", "", *run_lines(), f"Package: {package_version()}.", "", *lines])
    )
    return out
