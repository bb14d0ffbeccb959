import sys

from transpose_live.cli import main

sys.exit(main())
