"""`python -m mlops_ci` runs the same main as the container and the console script."""

from mlops_ci.cli import console_main

raise SystemExit(console_main())
