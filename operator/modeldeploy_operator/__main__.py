import sys

from modeldeploy_local.cli import main

sys.exit(main(["operator", *sys.argv[1:]]))
