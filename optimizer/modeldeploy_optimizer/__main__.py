"""``python -m modeldeploy_optimizer --input spec.json --output DIR``: the Job's entry point."""

import sys

from modeldeploy_optimizer.commands import main

sys.exit(main())
