"""The ``orch`` command line. :mod:`orch.cli.main` is the entry point; each command group lives in its
own module and is imported only when invoked, so ``orch --help`` stays fast."""
