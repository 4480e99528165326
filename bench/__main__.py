import sys

from learnsync.bench.cli import main

sys.exit(main())
