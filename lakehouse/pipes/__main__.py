"""``python -m lakehouse.pipes``: the Pipes entry point (see :mod:`lakehouse.pipes.remote`)."""

from lakehouse.pipes.remote import main

if __name__ == "__main__":
    main()
