"""Mutation testing of pipelines/ and the commands' mains: do the tests catch small bugs?

A mutant is the code with one small change a person could make by mistake: a comparison
turned (``<`` to ``<=``, ``==`` to ``!=``), ``and`` for ``or``, a ``not`` dropped, a number
moved by one, ``True`` for ``False``, ``+`` for ``-``, a string emptied. For every module of
the table below, mutants are sampled at random (``--per-module``, fixed ``--seed``) among all
the places such a change can be made; each is written into a copy of the repository (the
working tree is never touched) and the module's test files are run on it with ``-x``, after
the module's own docstring examples (the suite runs them too: ``--doctest-modules``). A
mutant is *caught* (killed) when a test fails, the run times out, or the mutated module can
no longer be imported (pytest stops at collection, while the same files collect cleanly
without the mutant); it *survives* when the tests pass. The table (module, mutants, caught,
survived) and each survivor (file, line, the line before and after) are printed at the end.

mutmut 3 copies the whole package into ``mutants/`` and rewrites every function into a
trampoline; the suite's subprocess tests (held extractions, the service, ``--help`` in a fresh
interpreter) import the real tree from ``PYTHONPATH``, so mutants would not reach them. This
sampler changes the module's own text, one change at a time.

Not part of ``.ci/run``: a habit for whoever changes pipelines/ or a command. Run it under
``nice`` on a shared machine; one mutant at a time.

examples:
  nice -n 10 python scripts/mutation.py                       # every module, 2 mutants each
  nice -n 10 python scripts/mutation.py --per-module 5 --modules pipelines/batch.py
  python scripts/mutation.py --list                           # the modules and their tests
"""

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> the test files that should catch a bug in it (run with -x, in this order)
TESTS = {
    "pipelines/registry.py": [
        "tests/test_survivors_library.py",
        "tests/test_reviewed_text.py",
        "tests/test_registry_docs.py",
        "tests/test_mutation_survivors.py",
        "tests/test_pipelines.py",
    ],
    "pipelines/compare.py": [
        "tests/test_survivors_library.py",
        "tests/test_figures.py",
        "tests/test_pipelines.py",
        "tests/test_cli.py",
    ],
    "pipelines/_charts.py": [
        "tests/test_survivors_library.py",
        "tests/test_figures.py",
        "tests/test_mutation_survivors.py",
        "tests/test_cli.py",
    ],
    "pipelines/batch.py": [
        "tests/test_survivors_folders.py",
        "tests/test_library_errors.py",
        "tests/test_batch.py",
        "tests/test_mutation_survivors.py",
        "tests/test_boundary_folders.py",
    ],
    "pipelines/_assembly.py": [
        "tests/test_survivors_folders.py",
        "tests/test_library_errors.py",
        "tests/test_batch.py",
        "tests/test_mutation_survivors.py",
        "tests/test_boundary_folders.py",
    ],
    "pipelines/datasets.py": [
        "tests/test_survivors_folders.py",
        "tests/test_library_errors.py",
        "tests/test_datasets.py",
        "tests/test_mutation_survivors.py",
        "tests/test_batch.py",
        "tests/test_boundary_folders.py",
    ],
    "pipelines/_runtime.py": [
        "tests/test_survivors_folders.py",
        "tests/test_library_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_batch.py",
        "tests/test_boundary_commands.py",
        "tests/test_boundary_folders.py",
        "tests/test_dask.py",
    ],
    "pipelines/search.py": [
        "tests/test_survivors_library.py",
        "tests/test_library_errors.py",
        "tests/test_search.py",
        "tests/test_figures.py",
        "tests/test_mutation_survivors.py",
        "tests/test_cli.py",
    ],
    "pipelines/model_files.py": [
        "tests/test_survivors_library.py",
        "tests/test_library_errors.py",
        "tests/test_model_files.py",
        "tests/test_mutation_survivors.py",
        "tests/test_boundary_models.py",
    ],
    "pipelines/lecture.py": [
        "tests/test_survivors_library.py",
        "tests/test_figures.py",
        "tests/test_lecture.py",
        "tests/test_mutation_survivors.py",
    ],
    "pipelines/serve/settings.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_errors.py",
        "tests/test_serve_units.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
    ],
    "pipelines/serve/batching.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_units.py",
        "tests/test_mutation_survivors.py",
    ],
    "pipelines/serve/models.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_errors.py",
        "tests/test_serve_units.py",
        "tests/test_mutation_survivors.py",
        "tests/test_serve_lifecycle.py",
        "tests/test_serve.py",
    ],
    "pipelines/serve/inputs.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_errors.py",
        "tests/test_serve.py",
    ],
    "pipelines/serve/responses.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_serve.py",
    ],
    "pipelines/serve/oip.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_serve.py",
    ],
    "pipelines/serve/metrics.py": [
        "tests/test_survivors_serve.py",
        "tests/test_mutation_survivors.py",
        "tests/test_serve.py",
    ],
    "pipelines/serve/app.py": [
        "tests/test_survivors_serve.py",
        "tests/test_serve_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_serve.py",
    ],
    "pipelines/cli/__init__.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_cli.py",
    ],
    "pipelines/cli/_common.py": [
        "tests/test_reviewed_text.py",
        "tests/test_library_errors.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_cli.py",
        "tests/test_options.py",
    ],
    "pipelines/cli/compare.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_pipelines.py",
    ],
    "pipelines/cli/extract.py": [
        "tests/test_reviewed_text.py",
        "tests/test_library_errors.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_batch.py",
    ],
    "pipelines/cli/features.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
    ],
    "pipelines/cli/train.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_model_files.py",
    ],
    "pipelines/cli/predict.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_model_files.py",
        "tests/test_boundary_commands.py",
    ],
    "pipelines/cli/search.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_search.py",
    ],
    "pipelines/cli/serve.py": [
        "tests/test_reviewed_text.py",
        "tests/test_library_errors.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_serve_lifecycle.py",
    ],
    "pipelines/cli/show_hog.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_figures.py",
    ],
    "pipelines/cli/lecture.py": [
        "tests/test_reviewed_text.py",
        "tests/test_command_errors.py",
        "tests/test_mutation_survivors.py",
        "tests/test_options.py",
        "tests/test_lecture.py",
    ],
    "scripts/compare.py": ["tests/test_mutation_survivors.py", "tests/test_pipelines.py"],
    "scripts/extract_features.py": ["tests/test_mutation_survivors.py", "tests/test_batch.py"],
    "scripts/train.py": ["tests/test_mutation_survivors.py", "tests/test_model_files.py"],
    "scripts/predict.py": ["tests/test_mutation_survivors.py", "tests/test_model_files.py"],
    "scripts/grid_search.py": ["tests/test_mutation_survivors.py", "tests/test_search.py"],
    "scripts/show_hog.py": ["tests/test_mutation_survivors.py", "tests/test_options.py"],
    "scripts/lecture.py": ["tests/test_mutation_survivors.py", "tests/test_lecture.py"],
    "scripts/serve.py": ["tests/test_mutation_survivors.py", "tests/test_serve_lifecycle.py"],
}

_COMPARE = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}


def _docstrings(tree):
    """The ids of the docstring nodes (never mutated: changing them changes nothing)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def mutations(source):
    """Every (line, col, end_line, end_col, new text, kind) one change can make in ``source``.

    Each is a replacement of one expression's text by the text of the changed expression.
    """
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []

    def add(node, changed, kind):
        found.append(
            (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, changed, kind)
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            other = ast.Compare(node.left, [_COMPARE[type(node.ops[0])]()], node.comparators)
            add(node, ast.unparse(other), "comparison")
        elif isinstance(node, ast.BoolOp):
            other_op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            swapped = ast.BoolOp(other_op, node.values)
            add(node, f"({ast.unparse(swapped)})", "and/or")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            add(node, f"({ast.unparse(node.operand)})", "not dropped")
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            other = ast.BinOp(node.left, _BINARY[type(node.op)](), node.right)
            add(node, f"({ast.unparse(other)})", "arithmetic")
        elif isinstance(node, ast.Constant) and id(node) not in skip:
            value = node.value
            if isinstance(value, bool):
                add(node, repr(not value), "boolean")
            elif isinstance(value, int) and node.lineno == node.end_lineno:
                add(node, repr(value + 1), "number")
            elif isinstance(value, float):
                add(node, repr(value * 2 if value else 1.0), "number")
            elif isinstance(value, str) and value and node.lineno == node.end_lineno:
                add(node, repr(""), "string")
    return sorted(found)


def apply(source, mutation):
    """``source`` with one mutation applied (the rest of the text unchanged)."""
    line, col, end_line, end_col, changed, _ = mutation
    lines = source.splitlines(keepends=True)
    # ast offsets are in UTF-8 bytes
    start = len(lines[line - 1].encode()[:col].decode())
    stop = len(lines[end_line - 1].encode()[:end_col].decode())
    head = "".join(lines[: line - 1]) + lines[line - 1][:start]
    tail = lines[end_line - 1][stop:] + "".join(lines[end_line:])
    return head + changed + tail


def _copy_repository(target):
    ignore = shutil.ignore_patterns(
        ".venv*", ".git", "__pycache__", "*.egg-info", "results", ".hypothesis", "mutants"
    )
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)


def _pytest(module, tests, *options):
    """The pytest command line for ``module``: its doctests, then its test files."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *options]
    # the suite's addopts include --doctest-modules (setup.cfg): a module's examples are tests
    command += ["-o", "addopts=", "--doctest-modules", "-W", "ignore::DeprecationWarning"]
    return [*command, module, *tests]


def _environment(copy):
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("HYPOTHESIS_PROFILE", None)
    return env


def collects(copy, module, tests):
    """Whether pytest collects ``module``'s doctests and ``tests`` in the copy without error."""
    done = subprocess.run(
        # syrupy fails a session whose snapshots went unused, as they all do when nothing runs
        _pytest(module, tests, "--collect-only", "--snapshot-warn-unused"),
        cwd=copy,
        env=_environment(copy),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )
    return done.returncode == 0


def run_tests(copy, module, tests, timeout):
    """'caught', 'survived', 'timeout' or 'error N' for the tests run on the copy."""
    env = _environment(copy)
    command = _pytest(module, tests)
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its worker processes are ended with it
    )
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # leftover workers of the session
        except ProcessLookupError:
            pass
    # pytest's codes: 0 passed, 1 a test failed; 2 (interrupted: a collection error), 3
    # (internal error: e.g. SystemExit while importing a test module) and 4 (usage) are judged
    # by the caller, which knows whether the unmutated copy collects
    return {0: "survived", 1: "caught"}.get(code, f"error {code}")


def sample(modules, per_module, seed):
    """[(module, mutation)]: ``per_module`` mutations of each module, drawn with ``seed``."""
    rng = random.Random(seed)
    chosen = []
    for module in modules:
        candidates = mutations((ROOT / module).read_text())
        picked = rng.sample(candidates, min(per_module, len(candidates)))
        chosen += [(module, mutation) for mutation in sorted(picked)]
    return chosen


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--modules",
        default=",".join(TESTS),
        help="comma-separated module paths (default: every module of the table)",
    )
    parser.add_argument("--per-module", type=int, default=2, help="mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a test run counts as caught"
    )
    parser.add_argument("--list", action="store_true", help="list modules and test files; stop")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    unknown = [m for m in modules if m not in TESTS]
    if unknown:
        print(f"mutation.py: no test files known for {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.list:
        for module in modules:
            print(f"{module:32s} {' '.join(TESTS[module])}")
        return 0
    chosen = sample(modules, args.per_module, args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="visionfeatures-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        _copy_repository(copy)
        for n, (module, mutation) in enumerate(chosen, 1):
            path = copy / module
            original = path.read_text()
            path.write_text(apply(original, mutation))
            start = time.perf_counter()
            try:
                verdict = run_tests(copy, module, TESTS[module], args.timeout)
            finally:
                path.write_text(original)
            # A run that stops at collection with the mutant, while the unmutated files
            # collect, stopped because of the mutant: importing the mutated module fails (a
            # script whose `if __name__ == "__main__"` is turned runs main() on import), and
            # a user importing it would see the same failure. That is a detection; a
            # collection error without the mutant is not, and stays "no verdict".
            if verdict in ("error 2", "error 3", "error 4") and collects(
                copy, module, TESTS[module]
            ):
                verdict = "import"
            seconds = time.perf_counter() - start
            before = original.splitlines()[mutation[0] - 1].strip()
            after = apply(original, mutation).splitlines()[mutation[0] - 1].strip()
            results.append((module, mutation, verdict, before, after))
            detail = f": `{before}` -> `{after}`" if verdict == "survived" else ""
            print(
                f"[{n}/{len(chosen)}] {verdict:8s} {module}:{mutation[0]} ({mutation[5]}, "
                f"{seconds:.0f} s){detail}",
                file=sys.stderr,
                flush=True,
            )
    report(results)
    return 0


def report(results):
    print("| module | mutants | caught | survived |")
    print("|---|---:|---:|---:|")
    errors = [r for r in results if r[2].startswith("error")]
    results = [r for r in results if not r[2].startswith("error")]
    for module in dict.fromkeys(module for module, *_ in results):
        verdicts = [v for m, _, v, *_ in results if m == module]
        survived = verdicts.count("survived")
        print(f"| {module} | {len(verdicts)} | {len(verdicts) - survived} | {survived} |")
    total = len(results)
    survived = sum(v == "survived" for _, _, v, *_ in results)
    caught = total - survived
    share = 100 * caught / total if total else 0.0
    print(f"| **total** | {total} | {caught} ({share:.0f} %) | {survived} |")
    timeouts = sum(v == "timeout" for _, _, v, *_ in results)
    if timeouts:
        print(f"\n({timeouts} caught by the timeout)")
    imports = sum(v == "import" for _, _, v, *_ in results)
    if imports:
        print(f"\n({imports} caught at collection: the mutated module fails to import)")
    for module, mutation, verdict, *_ in errors:
        print(f"\nno verdict ({verdict}: the tests could not run): {module}:{mutation[0]}")
    survivors = [r for r in results if r[2] == "survived"]
    if survivors:
        print("\nsurvivors:\n")
        print("| where | change | before | after |")
        print("|---|---|---|---|")
        for module, mutation, _, before, after in survivors:
            cells = [f"{module}:{mutation[0]}", mutation[5], f"`{before}`", f"`{after}`"]
            print("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
