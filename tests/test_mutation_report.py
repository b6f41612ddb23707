"""``make mutate``'s report: the share killed per module, survivors named, the target judged."""
from __future__ import annotations

import json

from tools.mutation_report import main


def write(root, module, codes):
    path = root / f"{module}.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}))


def test_the_report_names_survivors_and_judges_the_target(tmp_path, capsys):
    codes = {f"chalicelib.planner.x_f__mutmut_{i}": 1 for i in range(1, 20)}
    codes["chalicelib.planner.x_g__mutmut_1"] = 0
    write(tmp_path, "chalicelib/planner.py", codes)
    assert main(["--root", str(tmp_path)]) == 0  # 19 of 20: 95%
    out = capsys.readouterr().out
    assert "chalicelib/planner.py: 19 of 20 mutants killed (95.0%)" in out
    assert "survived: chalicelib.planner.x_g__mutmut_1" in out


def test_a_mutant_no_test_reaches_counts_against_the_score(tmp_path, capsys):
    write(tmp_path, "chalicelib/timeline.py", {"a": 1, "b": 33, "c": 36})
    assert main(["--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "2 of 3 mutants killed (66.7%)" in out and "1 reached by no test" in out
    assert "MISSED" in out


def test_no_results_says_how_to_get_them(tmp_path, capsys):
    assert main(["--root", str(tmp_path / "none")]) == 2
    assert "make mutate" in capsys.readouterr().err
