"""workload_args.py - the size knob the Python workloads share with the C ones:
--quick (the CI size, 2% of the full run) or --scale F."""
import os
import sys


def parse_scale(argv, usage=None):
    scale = 1.0
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == "--quick":
            scale = 0.02
        elif a == "--scale" and args:
            scale = float(args.pop(0))
        else:
            sys.exit(usage or "usage: %s [--quick | --scale F]" % os.path.basename(argv[0]))
    return scale
