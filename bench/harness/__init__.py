"""The pieces of bench/throughput.py, one concept a module; the scripts in bench/ are the entry
points."""
