"""The benchmark (issue 13): `python -m sequencer.bench` / `make bench`.

loadgen.py  the open-loop / closed-loop load generator (grpc.aio, processes of its own)
echo.py     the gRPC floor: a bare grpc.aio server with the sequencer's message shapes
targets.py  the sequencer and echo processes, the raw ceilings, the restart log
report.py   percentiles, the table, bench/results/latest.json, the charts
run.py      the phases, in order
"""

from .run import main

__all__ = ["main"]
