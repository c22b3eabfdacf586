"""The model file's field rules for a partial set of fields, as an exception.

An ONNX export carries some of a model file's fields in its metadata
(``inference.onnx_model``); they obey the same rules, declared with each field
in ``contents.ModelFile``.
"""

from __future__ import annotations

from typing import Any, Mapping

from mlcls_gui.core.model_file.contents import field_problem


class FieldProblem(ValueError):
    """One field breaks its rule; the message starts with the field's name."""


def check_model_payload(fields: Mapping[str, Any]) -> None:
    """Raise FieldProblem for the first of ``fields`` that breaks its rule;
    absent fields pass, and so do unknown ones."""
    problem = field_problem(fields)
    if problem:
        raise FieldProblem(problem)
