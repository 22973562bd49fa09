"""Self-checking exercises that never break a notebook.

A student writes a function; :func:`check` runs it on the exercise's cases against a reference
implementation, shows a one-line status (✅ passed, ❌ failed with the first difference, ⏳ not
attempted yet) and returns the student's function when it passed, otherwise the reference, so the
rest of the lab always runs::

    regression_report = check("01.regression_report", regression_report)

Exercise banks live in ``labkit.exercises.nb<NN>`` modules and are imported on the first lookup of
an id starting with ``"<NN>."``. A bank registers exercises with :func:`register` or the
:func:`exercise` decorator; :func:`evaluate` is the pure, display-free check that :func:`check` uses,
and :func:`collect_results` reads the machine-readable records back out of an executed notebook.
"""
from labkit.exercises import _core
from labkit.exercises._core import (
    MIME_TYPE,
    Case,
    CheckResult,
    Exercise,
    UnknownExerciseError,
    check,
    collect_results,
    compare_values,
    evaluate,
    exercise,
    exercise_ids,
    get_exercise,
    register,
)

__all__ = list(_core.__all__)  # the public names are listed once, in _core
