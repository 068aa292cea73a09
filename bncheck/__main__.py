import sys

from bncheck.cli import main

sys.exit(main())
