"""Self-checked exercises that never break a notebook: the checker only, no solutions.

:func:`check` runs a student's function on visible cases against recorded outputs and shows ✅/❌/⏳; a
missing or wrong function is replaced by the *fallback*, recorded results for the calls the notebook
makes. :func:`hint`, :func:`progress` and :func:`answer` (self-checked questions) complete it.
"""
from labkit.exercises._bank import (BANK_DIR, Bank, ExerciseNotDoneError, call_fingerprint, fingerprint, load_bank,
                                    make_fallback, sketches_match)
from labkit.exercises._check import (MIME_TYPE, CheckResult, UnknownExerciseError, answer, check,
                                     digest, evaluate, hint, progress, seal)
from labkit.exercises._compare import compare_values

__all__ = ["check", "hint", "progress", "answer", "evaluate", "compare_values",
           "CheckResult", "UnknownExerciseError", "ExerciseNotDoneError", "MIME_TYPE",  # for notebooks, then
           "BANK_DIR", "Bank", "load_bank", "fingerprint", "call_fingerprint", "sketches_match",
           "make_fallback", "digest", "seal"]  # for the instructor tools that write and read the banks
