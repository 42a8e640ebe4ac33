import sys

from kosbert_viz.cli.main import main

sys.exit(main())
