"""Run folders: the one reader, the one writer, a folder's life, and what reads a run
(verify, replay, baseline, merge, override).
"""
