"""The pytest side of a gated run: wiring, the deciding controller, the task runner,
intake, facts, finish, the terminal.
"""
