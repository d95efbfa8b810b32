import sys

from facefit.cli import main

sys.exit(main())
