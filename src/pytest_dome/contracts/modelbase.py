"""The base of the pydantic models: the schema version, the shared literal types and
the model classes every artifact model derives from (re-exported by ``models``)."""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

SCHEMA_VERSION: Final = "1.0.0"

GateStatus = Literal["APPROVE", "NEEDS_HUMAN", "REJECT"]
PromotionAction = Literal["promote", "hold", "stop"]
TaskOutcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed", "missing"]
VerifyStatus = Literal["passed", "failed", "timeout", "error", "not_run"]
Phase = Literal["setup", "call", "teardown", "crash"]

GATE_STATUSES: tuple[GateStatus, ...] = ("APPROVE", "NEEDS_HUMAN", "REJECT")
"""Gate statuses from least to most severe."""

TASK_OUTCOMES: tuple[TaskOutcome, ...] = (
    "passed",
    "failed",
    "error",
    "skipped",
    "xfailed",
    "xpassed",
    "missing",
)

FAILING_OUTCOMES: frozenset[TaskOutcome] = frozenset({"failed", "error", "missing"})
"""The outcomes that fail a task (the gate counts each; a baseline compares them)."""


class Model(BaseModel):
    # defer_build: a model's validator is built when first used, not at import; a
    # gated session uses a third of these, and builds them after its tests.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class OptionalFieldsModel(Model):
    """A model whose optional fields named in ``omitted_when_none`` (``description``
    unless told otherwise) are left out when None, not written as null."""

    omitted_when_none: ClassVar[tuple[str, ...]] = ("description",)

    @model_serializer(mode="wrap")
    def _omit_missing_description(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for name in self.omitted_when_none:
            if data.get(name) is None:
                data.pop(name, None)
        return data
