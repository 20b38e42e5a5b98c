import sys

from rldistill.cli import main

sys.exit(main())
