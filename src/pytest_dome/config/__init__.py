"""Where a gated run's settings come from: options, ini keys, [tool.dome], packet and
policy, and their precedence.
"""
