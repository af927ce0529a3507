import sys

from silava.app.cli import main

sys.exit(main())
