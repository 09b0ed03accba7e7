"""Docker mode: the demos' own compose files on a Docker engine (what `make` runs when one answers).

compose.py   up (and wait until every container is healthy), down, container health
engine.py    a Docker engine for the tests: the one that answers, or dockerd started and stopped
"""
