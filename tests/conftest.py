"""Test configuration: two host devices, so that ``chain_method="parallel"`` can be tested."""

import numpyro

numpyro.set_host_device_count(2)
