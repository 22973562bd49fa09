"""labkit_instructor.release: the solution → student generator, normalisation, sync of notebooks and
recorded banks, and the recording of fallback tables."""
from __future__ import annotations

import copy
import io
import json
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from labkit.exercises import load_bank
from labkit_instructor.release import (
    collect_results,
    ANSWER_PLACEHOLDER,
    KERNELSPEC,
    MODEL_ANSWER_TAG,
    NOTEBOOK_GLOB,
    check_exercise_cells,
    execute_solution,
    main,
    make_student_notebook,
    normalise_solution,
    notebook_text,
    read_notebook,
    sync,
    sync_notebook,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob(NOTEBOOK_GLOB))


def src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


EXERCISE_CELL = src('''
    def regression_report(y_true, y_pred):
        """Return {'mae': ..., 'rmse': ..., 'r2': ...}."""
        ### BEGIN SOLUTION
        resid = y_true - y_pred
        return {"mae": abs(resid).mean()}
        ### END SOLUTION

    regression_report = check("01.regression_report", regression_report)
''')

STUDENT_EXERCISE_CELL = src('''
    def regression_report(y_true, y_pred):
        """Return {'mae': ..., 'rmse': ..., 'r2': ...}."""
        # YOUR CODE HERE
        raise NotImplementedError("Exercise 01.regression_report: not attempted yet")

    regression_report = check("01.regression_report", regression_report)
''')


def solution_notebook() -> nbformat.NotebookNode:
    code = new_code_cell(EXERCISE_CELL, id="exercise", execution_count=7,
                         metadata={"tags": ["exercise"], "collapsed": False, "scrolled": True})
    code.outputs = [new_output("stream", name="stdout", text="✅ passed\n")]
    printed = new_code_cell("print(1 + 1)  # NBVAL_CHECK_OUTPUT", id="printed", execution_count=8)
    printed.outputs = [new_output("stream", name="stdout", text="2\n"),
                       new_output("execute_result", data={"text/plain": "2"}, execution_count=8)]
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Title", id="title", metadata={"editable": False}),
            code,
            printed,
            new_markdown_cell("Answer: because of drift.", id="answer", metadata={"tags": ["answer"]},
                              attachments={"a.png": {"image/png": "AAAA"}}),
            new_markdown_cell("Instructor note", id="note", metadata={"tags": ["solution-only"]}),
            new_code_cell("secret = 42", id="secret", metadata={"tags": ["solution-only"]}),
            new_raw_cell("raw text", id="raw", metadata={"format": "text/plain"}),
        ],
        metadata={"kernelspec": {"name": "conda-env-x", "display_name": "X", "language": "python"},
                  "language_info": {"name": "python", "version": "3.11.9"}, "widgets": {"state": {}}},
    )
    return nb


def cell(nb, cell_id):
    return next(c for c in nb.cells if c.id == cell_id)


# --------------------------------------------------------------------------------------------------
# make_student_notebook
# --------------------------------------------------------------------------------------------------
def test_solution_block_inside_a_def_is_replaced_with_its_indentation():
    student = make_student_notebook(solution_notebook())
    assert cell(student, "exercise").source == STUDENT_EXERCISE_CELL


def test_blocks_at_every_indentation_and_at_top_level():
    source = "\n".join([
        "### BEGIN SOLUTION",
        "threshold = 0.1",
        "### END SOLUTION",
        "class Detector:",
        "    def score(self, x):",
        "        if x:",
        "            ### BEGIN SOLUTION",
        "            return 1",
        "            ### END SOLUTION",
        "        return 0",
        "def tabbed():",
        "\t### BEGIN SOLUTION",
        "\tpass",
        "\t### END SOLUTION",
        "",
    ])
    out = make_student_notebook(new_notebook(cells=[new_code_cell(source, id="c")])).cells[0].source
    generic = 'raise NotImplementedError("Exercise not attempted yet: replace this line with your code")'
    assert out == "\n".join([
        "# YOUR CODE HERE",
        generic,
        "class Detector:",
        "    def score(self, x):",
        "        if x:",
        "            # YOUR CODE HERE",
        "            " + generic,
        "        return 0",
        "def tabbed():",
        "\t# YOUR CODE HERE",
        "\t" + generic,
        "",
    ])


def test_each_block_takes_the_id_of_the_next_check_call():
    source = src('''
        def a(x):
            ### BEGIN SOLUTION
            return x
            ### END SOLUTION
        a = labkit.exercises.check('02.first', a)

        def b(x):
            ### BEGIN SOLUTION
            return x
            ### END SOLUTION
        b = check(
            "02.second", b)

        def helper():
            ### BEGIN SOLUTION
            return 1
            ### END SOLUTION
    ''')
    out = make_student_notebook(new_notebook(cells=[new_code_cell(source, id="c")])).cells[0].source
    messages = [line.strip() for line in out.splitlines() if "NotImplementedError" in line]
    assert messages == [
        'raise NotImplementedError("Exercise 02.first: not attempted yet")',
        'raise NotImplementedError("Exercise 02.second: not attempted yet")',
        'raise NotImplementedError("Exercise 02.second: not attempted yet")',  # nearest call before it
    ]


def test_markers_must_be_alone_on_their_line():
    source = src('''
        x = 1  ### BEGIN SOLUTION
        print("### END SOLUTION")
        ### BEGIN SOLUTION!
    ''')
    out = make_student_notebook(new_notebook(cells=[new_code_cell(source, id="c")])).cells[0].source
    assert out == source


@pytest.mark.parametrize("source, match", [
    pytest.param("### BEGIN SOLUTION\nx = 1", r"cell c: line 1: '### BEGIN SOLUTION' is never closed",
                 id="unclosed"),
    pytest.param("x = 1\n### END SOLUTION", r"cell c: line 2: '### END SOLUTION' without", id="end-first"),
    pytest.param("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
                 r"line 2: '### BEGIN SOLUTION' inside the solution block opened on line 1", id="nested"),
    pytest.param("if x:\n### BEGIN SOLUTION\n    y = 1\n### END SOLUTION",
                 r"cell c: the student version is not valid Python", id="bad-indentation"),
])
def test_broken_markers_are_clear_errors(source, match):
    nb = new_notebook(cells=[new_code_cell(source, id="c")])
    with pytest.raises(ValueError, match=match):
        make_student_notebook(nb)
    if "valid Python" not in match:
        with pytest.raises(ValueError, match=match):
            normalise_solution(nb)


def test_magics_do_not_trip_the_syntax_check():
    source = "%matplotlib inline\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    out = make_student_notebook(new_notebook(cells=[new_code_cell(source, id="c")])).cells[0].source
    assert out.startswith("%matplotlib inline\ndef f():\n    # YOUR CODE HERE\n")


def test_answer_and_solution_only_cells():
    student = make_student_notebook(solution_notebook())
    assert [c.id for c in student.cells] == ["title", "exercise", "printed", "answer", "raw"]
    answer = cell(student, "answer")
    assert answer.source == ANSWER_PLACEHOLDER
    assert answer.metadata == {"tags": ["answer"]}
    assert "attachments" not in answer


def test_outputs_counts_and_metadata_are_stripped():
    student = make_student_notebook(solution_notebook())
    for c in student.cells:
        assert set(c.metadata) <= {"tags"}
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    assert cell(student, "exercise").metadata == {"tags": ["exercise"]}
    assert cell(student, "title").metadata == {}
    assert student.metadata == {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    assert (student.nbformat, student.nbformat_minor) == (4, 5)
    nbformat.validate(student)


def test_generator_is_pure_deterministic_and_idempotent():
    solution = solution_notebook()
    before = copy.deepcopy(solution)
    student = make_student_notebook(solution)
    assert solution == before
    assert notebook_text(make_student_notebook(solution)) == notebook_text(student)
    assert make_student_notebook(student) == student
    assert make_student_notebook(normalise_solution(solution)) == student


def test_missing_and_duplicate_ids_get_deterministic_ids():
    raw = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["x = 1\n", "y = 2"], "metadata": {}, "outputs": [],
         "execution_count": None},
        {"cell_type": "markdown", "source": "dup", "metadata": {}, "id": "same"},
        {"cell_type": "markdown", "source": "dup", "metadata": {}, "id": "same"},
    ]}
    first = normalise_solution(nbformat.from_dict(copy.deepcopy(raw)))
    again = normalise_solution(nbformat.from_dict(copy.deepcopy(raw)))
    ids = [c.id for c in first.cells]
    assert ids == [c.id for c in again.cells]
    assert ids[1] == "same" and len(set(ids)) == 3
    assert first.cells[0].source == "x = 1\ny = 2"
    assert [c.id for c in make_student_notebook(first).cells] == ids


def test_other_nbformat_versions_are_refused():
    with pytest.raises(ValueError, match="expected an nbformat 4 notebook"):
        make_student_notebook(nbformat.from_dict({"nbformat": 3, "cells": [], "metadata": {}}))
    with pytest.raises(TypeError, match="expected a notebook"):
        make_student_notebook("not a notebook")


# --------------------------------------------------------------------------------------------------
# normalise_solution
# --------------------------------------------------------------------------------------------------
def test_normalise_keeps_only_checked_outputs():
    nb = normalise_solution(solution_notebook())
    assert cell(nb, "exercise").outputs == []
    printed = cell(nb, "printed")
    assert [o.output_type for o in printed.outputs] == ["stream", "execute_result"]
    # nbval needs an execution count on a reference cell with outputs; a constant keeps files stable.
    assert printed.execution_count == 1 and printed.outputs[1].execution_count == 1
    assert all(c.get("execution_count") is None for c in nb.cells if c.id != "printed")
    assert cell(nb, "exercise").source == EXERCISE_CELL  # solutions keep their code
    assert [c.id for c in nb.cells] == ["title", "exercise", "printed", "answer", "note", "secret", "raw"]
    assert cell(nb, "answer").attachments == {"a.png": {"image/png": "AAAA"}}
    assert cell(nb, "raw").metadata == {}
    assert normalise_solution(nb) == nb


def test_notebook_text_matches_nbformat_write():
    nb = make_student_notebook(solution_notebook())
    buffer = io.StringIO()
    nbformat.write(nb, buffer)
    assert notebook_text(nb) == buffer.getvalue()
    assert notebook_text(nb).endswith("}\n") and '\n "cells": [\n' in notebook_text(nb)


# --------------------------------------------------------------------------------------------------
# sync and the command line
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def repo(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(solution_notebook(), tmp_path / "solutions" / "01_toy.ipynb")
    return tmp_path


def test_sync_writes_then_reports_nothing(repo):
    written = sync(repo)
    assert written == [repo / "solutions" / "01_toy.ipynb", repo / "notebooks" / "01_toy.ipynb"]
    assert sync(repo, check=True) == []
    assert sync(repo) == []
    student = read_notebook(repo / "notebooks" / "01_toy.ipynb")
    assert student == make_student_notebook(solution_notebook())
    text = (repo / "notebooks" / "01_toy.ipynb").read_text(encoding="utf-8")
    assert text == notebook_text(student)


def test_check_mode_writes_nothing_and_lists_what_is_out_of_sync(repo):
    expected = [repo / "solutions" / "01_toy.ipynb", repo / "notebooks" / "01_toy.ipynb"]
    assert sync(repo, check=True) == expected
    assert not (repo / "notebooks").exists()
    sync(repo)
    student_path = repo / "notebooks" / "01_toy.ipynb"
    student = read_notebook(student_path)
    student.cells[1].source += "\n# edited by hand"
    nbformat.write(student, student_path)
    nbformat.write(student, repo / "notebooks" / "02_orphan.ipynb")
    assert sync(repo, check=True) == [student_path, repo / "notebooks" / "02_orphan.ipynb"]
    assert sync_notebook(repo / "solutions" / "01_toy.ipynb", check=True) == [student_path]


def test_main_exit_codes(repo, capsys):
    assert main(["sync", "--check", "--root", str(repo)]) == 1
    assert "notebooks/01_toy.ipynb" in capsys.readouterr().out
    assert main(["sync", "--root", str(repo)]) == 0
    assert "wrote notebooks/01_toy.ipynb" in capsys.readouterr().out
    assert main(["sync", "--check", "--root", str(repo)]) == 0
    assert "in sync" in capsys.readouterr().out


def test_sync_with_no_solutions_checks_nothing(tmp_path):
    (tmp_path / "solutions").mkdir()
    assert sync(tmp_path, check=True) == []
    assert sync(tmp_path) == []
    assert not (tmp_path / "notebooks").exists()


def test_sync_needs_a_solutions_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no solutions/ folder"):
        sync(tmp_path)


NOTEBOOK_WITH_EXERCISE = [
    "from labkit.exercises import check\nimport numpy as np",
    src('''
        def psi_from_counts(reference_counts, current_counts, eps=1e-4):
            ### BEGIN SOLUTION
            p = np.asarray(reference_counts, dtype=float)
            q = np.asarray(current_counts, dtype=float)
            p, q = p / p.sum(), q / q.sum()
            p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
            return float(np.sum((q - p) * np.log(q / p)))
            ### END SOLUTION

        psi_from_counts = check("03.psi_from_counts", psi_from_counts)
    '''),
    "import os\nprint(os.path.basename(os.getcwd()), 2.0)  # NBVAL_CHECK_OUTPUT",
]


def test_execute_solution_and_run_the_student_notebook(tmp_path):
    """End to end: the solution runs in solutions/, the student version runs top to bottom too."""
    import nbclient

    (tmp_path / "solutions").mkdir()
    path = tmp_path / "solutions" / "01_run.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in NOTEBOOK_WITH_EXERCISE]), path)
    executed = execute_solution(path, timeout=60)
    assert read_notebook(path) == executed
    assert [c.outputs for c in executed.cells[:2]] == [[], []]
    assert executed.cells[2].outputs[0].text == "solutions 2.0\n"
    assert sync(tmp_path) == [tmp_path / "notebooks" / "01_run.ipynb"]

    student = read_notebook(tmp_path / "notebooks" / "01_run.ipynb")
    nbclient.NotebookClient(student, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    records = collect_results(student)
    assert [(r["exercise"], r["status"]) for r in records] == [("03.psi_from_counts", "not_attempted")]
    assert student.cells[2].outputs[0].text == f"{tmp_path.name} 2.0\n"
    json.dumps(student)  # the executed notebook is plain JSON


# --------------------------------------------------------------------------------------------------
# The real repository: committed student notebooks are exactly what the generator produces
# --------------------------------------------------------------------------------------------------
def test_repository_is_in_sync():
    """Passes with no solutions at all; lists every file to regenerate otherwise."""
    out_of_sync = sync(REPO_ROOT, check=True)
    assert out_of_sync == [], (
        "run `labkit-instructor sync` and commit the result; out of sync: "
        + ", ".join(str(p.relative_to(REPO_ROOT)) for p in out_of_sync)
    )


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_and_student_notebook_in_sync(solution):
    assert sync_notebook(solution, check=True) == [], "run `labkit-instructor sync` and commit"


# --------------------------------------------------------------------------------------------------
# Self-checked questions, the self-study variant, and the exercise cells against the answer key
# --------------------------------------------------------------------------------------------------
def test_an_answer_call_loses_its_choice_in_the_student_notebook():
    source = src('''
        answer("01.leak", "b")  # a, b or c
        answer('01.shift', 0.26)
        print(answer)  # not a call with a choice
    ''')
    out = make_student_notebook(new_notebook(cells=[new_code_cell(source, id="q")])).cells[0].source
    assert out.splitlines() == ['answer("01.leak", None)  # a, b or c', "answer('01.shift', None)",
                                "print(answer)  # not a call with a choice"]
    out = make_student_notebook(new_notebook(cells=[new_code_cell('answer("01.leak", "b");  # a or b', id="q")]))
    assert out.cells[0].source == 'answer("01.leak", None);  # a or b'


@pytest.mark.parametrize("line", ['ok = answer("01.leak", "b")', 'print(answer("01.leak", "b"))',
                                  'answer("01.leak",\n       "b")'])
def test_an_answer_call_the_release_cannot_blank_is_refused(line):
    with pytest.raises(ValueError, match=r"cell q: line 1: .* would keep its choice in the student notebook"):
        make_student_notebook(new_notebook(cells=[new_code_cell(line, id="q")]))


def test_the_self_study_variant_reveals_model_answers_behind_a_click():
    nb = solution_notebook()
    graded = make_student_notebook(nb)
    study = make_student_notebook(nb, self_study=True)
    assert [c.id for c in study.cells] == ["title", "exercise", "printed", "answer", "answer-model", "raw"]
    reveal = cell(study, "answer-model")
    assert reveal.metadata == {"tags": [MODEL_ANSWER_TAG]}
    assert reveal.source.startswith("<details><summary>Model answer") and "because of drift" in reveal.source
    assert cell(study, "exercise").source == cell(graded, "exercise").source  # code stays an exercise
    assert not any("because of drift" in c.source for c in graded.cells)


def test_the_exercise_cells_must_match_the_answer_key():
    nb = read_notebook(REPO_ROOT / "solutions" / "05_alerting.ipynb")
    check_exercise_cells(nb, "05")
    renamed = copy.deepcopy(nb)
    for c in renamed.cells:
        c.source = c.source.replace("def held_for(values, threshold, n)", "def held_for(series, threshold, n)")
    with pytest.raises(ValueError, match=r"05.held_for: the notebook's def takes \['series', 'threshold', 'n'\]"):
        check_exercise_cells(renamed, "05")
    dropped = copy.deepcopy(nb)
    dropped.cells = [c for c in dropped.cells if 'check("05.apply_cooldown"' not in c.source]
    with pytest.raises(ValueError, match=r"notebook 05 checks \['05.held_for'\], but"):
        check_exercise_cells(dropped, "05")


def test_the_answered_questions_must_match_the_answer_key():
    nb = read_notebook(REPO_ROOT / "solutions" / "04_monitoring_dashboard.ipynb")
    check_exercise_cells(nb, "04")
    dropped = copy.deepcopy(nb)
    dropped.cells = [c for c in dropped.cells if 'answer("04.q_label_delay"' not in c.source]
    with pytest.raises(ValueError, match=r"notebook 04 answers the questions \['04.q_calendar_drift'\], but"):
        check_exercise_cells(dropped, "04")


def test_sync_writes_the_bank_of_a_repository_with_labkit(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "labkit" / "exercises").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "solutions" / "05_alerting.ipynb", tmp_path / "solutions")
    written = sync(tmp_path)
    bank_dir = tmp_path / "labkit" / "exercises" / "bank"
    assert set(written) >= {bank_dir / "05.json", bank_dir / "05.npz"}
    assert sync(tmp_path, check=True) == []
    load_bank.cache_clear()
    bank = load_bank("05", bank_dir)
    assert list(bank.exercises) == ["05.held_for", "05.apply_cooldown"]
    (bank_dir / "05.json").write_text("{}", encoding="utf-8")
    assert sync(tmp_path, check=True) == [bank_dir / "05.json"]
    load_bank.cache_clear()


def test_recording_keeps_the_reference_result_of_every_call(tmp_path, monkeypatch):
    """What `sync --execute` does inside the solution's kernel, done here in-process."""
    import pandas as pd

    import labkit.exercises as student
    from labkit_instructor import bank
    from labkit_instructor.exercises import get

    monkeypatch.setattr(student, "check", student.check)  # start_recording replaces it; restored afterwards
    bank.start_recording(str(tmp_path / "rec"))

    def held_for(values, threshold, n):
        return get("05.held_for").reference(values, threshold, n)

    recorded = student.check("05.held_for", held_for)
    values = pd.Series([1.0, 5.0, 6.0, 7.0, 0.0])
    assert list(recorded(values, 4.0, 2)) == [False, False, True, True, False]
    recorded(values, threshold=4.0, n=2)  # the same call again: recorded once
    bank.finish_recording()
    (entry,) = bank.read_recording(tmp_path / "rec")["05.held_for"]["entries"]
    assert set(entry) == {"key", "sketch", "result"}

    def wrong(values, threshold, n):
        return values > threshold

    disagreeing = student.check("05.held_for", wrong)  # fails its check: not wrapped, not recorded
    assert getattr(disagreeing, "labkit_fallback", None) == "05.held_for"
