"""The contracts: the pydantic models of every artifact, the reason codes, the SSOT
(schemas, catalog, policy).
"""
