"""labkit_instructor: sync, release and grade the Model Monitoring Lab (never shipped to students).

It holds what students must not have: the reference implementations, hidden cases and answers
(:mod:`labkit_instructor.exercises`), the grader, and the release builder. It imports ``labkit``;
``labkit`` never imports it. Installed by ``make test`` (``pip install --no-deps -e instructor``).
"""
__version__ = "0.1.0"
