"""``python -m quasid``: the CLI, so launchers that take a module run it (``torchrun -m quasid fit ...``)."""

from quasid.cli import main

if __name__ == "__main__":
    main()
