import sys

from feed_core.cli import main

sys.exit(main())
