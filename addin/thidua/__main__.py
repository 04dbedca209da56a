"""`python -m thidua`: the same command line as the `thidua` console script."""

from .cli import main

if __name__ == "__main__":
    main()
