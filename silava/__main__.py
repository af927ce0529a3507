import sys

from silava.cli import main

sys.exit(main())
