"""`python -m builderos` is the same as the `builderos` console script."""

from builderos.cli import main

raise SystemExit(main())
