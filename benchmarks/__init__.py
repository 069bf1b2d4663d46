"""confmap's benchmark suite: ``python -m benchmarks [--quick]`` (see :mod:`benchmarks.run`)."""
