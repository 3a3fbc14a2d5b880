import sys

from active_learning.prm.cli import main

sys.exit(main())
