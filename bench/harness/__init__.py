"""The pieces of bench/throughput.py and bench/levers.py, one concept a module; the scripts in
bench/ are the entry points."""
