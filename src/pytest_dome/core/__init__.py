"""The pure core: ids, redaction, plan, aggregation, risk, comparison, gate; no pytest,
no file written, no clock.
"""
