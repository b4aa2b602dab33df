"""Container entry point: a trampoline into mlops_ci.cli.main."""

from mlops_ci.cli import console_main

if __name__ == "__main__":
    raise SystemExit(console_main())
