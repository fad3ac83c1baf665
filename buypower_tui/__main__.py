import sys

from buypower_tui.cli import main

sys.exit(main())
