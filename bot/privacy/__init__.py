"""Personal data kept out of logs and reports: one set of masking patterns (masking.py) and the
log filter (logmask.py)."""
