"""Peak memory of a long PseudoLangevin run on the paper's 10^6-parameter MLP.

The paper's largest network (100 -> [5000, 100] -> 10, 1 006 110 parameters) on P = 100 000
KSpin-like examples (the model and data of ``move_overhead.py``), B = 128, one chain:
``MCMC(PseudoLangevin(...), num_warmup=W, num_samples=S, thinning=K, progress_bar=False)``.
NumPyro's driver keeps ``num_samples / thinning`` draws of every latent site, so the samples
cost ``S / K x 4 bytes x 10^6``; thinning is how a user keeps only what they ask for.

The peak resident set size (``ru_maxrss``) is read after the run, and the resident set before
it (data, model and JAX runtime loaded) is reported beside it.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/memory.py [--warmup 1000] [--samples 10000] [--thinning 100]
(about 2 minutes on 2 cores); writes benchmarks/results/memory.md.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import jax
from environment import machine
from jax import random
from move_overhead import SIZES, B, kspin_data, mlp_model
from numpyro.infer import MCMC

from numpyro_pl import PseudoLangevin

GIB = 2**30


def rss_now():
    """Current resident set size in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--thinning", type=int, default=100)
    args = parser.parse_args()
    header = f"- {machine()}; load average at start: {os.getloadavg()[0]:.2f}\n"
    command = " ".join(["python", *sys.argv])

    X, y = kspin_data(random.key(42))
    kernel = PseudoLangevin(mlp_model(SIZES["1e6"]), batch_size=B)
    mcmc = MCMC(
        kernel,
        num_warmup=args.warmup,
        num_samples=args.samples,
        thinning=args.thinning,
        progress_bar=False,
    )
    before = rss_now()
    start = time.perf_counter()
    mcmc.run(random.key(0), X, y, extra_fields=("kinetic_temperature",))
    samples = jax.block_until_ready(mcmc.get_samples())
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    n_params = sum(v[0].size for v in jax.tree.leaves(samples))
    kept = jax.tree.leaves(samples)[0].shape[0]
    stored = sum(v.nbytes for v in jax.tree.leaves(samples))
    kinetic = float(mcmc.get_extra_fields()["kinetic_temperature"].mean())
    text = (
        "| N params | warmup | moves | thinning | draws kept | samples GiB | RSS before run GiB "
        "| peak RSS GiB | run s | mean kinetic T/T |\n" + "|---:" * 10 + "|\n"
        f"| {n_params:,} | {args.warmup:,} | {args.samples:,} | {args.thinning} | {kept} "
        f"| {stored / GIB:.2f} | {before / GIB:.2f} | {peak / GIB:.2f} | {seconds:.0f} "
        f"| {kinetic:.4f} |\n"
    )
    print(text)
    out = Path(__file__).parent / "results" / "memory.md"
    out.write_text(
        f"# Peak memory of a 10^6-parameter run\n\n{header}- command: `{command}`\n\n{text}"
    )


if __name__ == "__main__":
    main()
