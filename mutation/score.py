"""`python -m mutation.score [MODULE.py ...]`: the mutation score of the last mutmut run (scripts/mutate), from
mutmut's results under mutants/, for every mutated module or those named.

A surviving mutant that changed nothing but the message of an exception or a log line (its text, or the text
replaced by None) is counted as equivalent and left out of the score: a message changes no behaviour (the answers
carry the contract's own sentences, by `Sent`). The other survivors are listed with their change. A timeout counts
as killed: the tests noticed the mutant, by not ending."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

from .judged import RULES, Judgement, judge

RESULTS = Path("mutants")
KILLED = {"killed", "timeout"}
# A line that raises or logs: its first argument is a message.
MESSAGE_LINE = re.compile(r"^\s*(raise \w+\(|LOG\.\w+\()")
# A string literal: its prefix, then its text in double or single quotes.
STRING = re.compile(r"""(?<!\w)([rbfRBF]{0,2})("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
FIELD = re.compile(r"\{[^{}]*\}")
OPENING, CLOSING = "([{", ")]}"


@dataclass
class Mutant:
    name: str
    module: str
    status: str
    seconds: float | None


def module_of(meta: Path) -> str:
    """singleton_start/core/decisions.py for mutants/singleton_start/core/decisions.py.meta."""
    return meta.relative_to(RESULTS).as_posix().removesuffix(".meta")


def results(modules: list[str]) -> list[Mutant]:
    found = []
    for meta in sorted(RESULTS.rglob("*.py.meta")):
        module = module_of(meta)
        if modules and module not in modules:
            continue
        data = json.loads(meta.read_text())
        durations = data.get("durations_by_key", {})
        for name, exit_code in sorted(data["exit_code_by_key"].items(), key=lambda item: natural(item[0])):
            found.append(Mutant(name, module, status_by_exit_code[exit_code], durations.get(name)))
    return found


def natural(name: str) -> tuple[str, int]:
    """x_decide__mutmut_10 after x_decide__mutmut_9."""
    function, _, number = name.rpartition("__mutmut_")
    return function, int(number) if number.isdigit() else 0


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
    lines = diff.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def text_left_out(line: str) -> str:
    """The line with the text of its strings left out; an f-string keeps its fields, whose calls may raise."""

    def fields(literal: re.Match[str]) -> str:
        prefix, body = literal.groups()
        return "f" + "".join(FIELD.findall(body)) if "f" in prefix.lower() else "S"

    return STRING.sub(fields, line)


def first_argument(line: str) -> tuple[int, int] | None:
    """Where the first argument of the line's raise or log call is: up to its first comma or closing bracket
    outside brackets (the strings' text already left out)."""
    call = MESSAGE_LINE.search(line)
    if call is None:
        return None
    depth = 0
    for end in range(call.end(), len(line)):
        if line[end] in OPENING:
            depth += 1
        elif line[end] in CLOSING and depth:
            depth -= 1
        elif line[end] in ",)" and not depth:
            return call.end(), end
    return None


def message_left_out(line: str) -> str:
    span = first_argument(line)
    return line if span is None else line[: span[0]] + "M" + line[span[1] :]


def message_only(diff: str) -> bool:
    """Whether a mutant changed only the message an exception is raised or a line is logged with: its text, or the
    whole message replaced by None. Dropping the message is not such a change (the next argument, Sent.START,
    would take its place), nor is one to a call inside an f-string's field (it may raise)."""
    removed, added = changed_lines(diff)
    if not removed or len(removed) != len(added):
        return False
    for old, new in zip(removed, added, strict=True):
        if not MESSAGE_LINE.search(old):
            return False
        old, new = text_left_out(old), text_left_out(new)
        first = first_argument(new)
        if first is not None and new[first[0] : first[1]].strip() == "None":
            old, new = message_left_out(old), message_left_out(new)
        if old != new:
            return False
    return True


def change(diff: str) -> str:
    removed, added = changed_lines(diff)
    return " / ".join([*(f"- {line.strip()}" for line in removed), *(f"+ {line.strip()}" for line in added)])


def short_name(mutant: Mutant) -> str:
    """xǁHoldǁsend 13 for singleton_start.service.hold.xǁHoldǁsend__mutmut_13."""
    function, _, number = mutant.name.rpartition("__mutmut_")
    return f"{function.rpartition('.')[2]} {number}"


def print_score_table(mutants: list[Mutant], equivalent: set[str], modules: list[str]) -> None:
    """The score by module as docs/simulation.md's table: a timeout counts as killed."""
    print("| module | mutants | killed | equivalent | survived | score |")
    print("| --- | --- | --- | --- | --- | --- |")
    for module in modules:
        mine = [mutant for mutant in mutants if module in ("total", mutant.module)]
        killed = sum(mutant.status in KILLED for mutant in mine)
        left_out = sum(mutant.name in equivalent for mutant in mine)
        counted = len(mine) - left_out
        name = module if module == "total" else f"`{module}`"
        score = f"{100 * killed / counted:.1f}%" if counted else "-"
        print(f"| {name} | {len(mine)} | {killed} | {left_out} | {counted - killed} | {score} |")


def print_table(by_reason: dict[str, list[Mutant]]) -> None:
    """The judged survivors, one row per reason: its kind, the reason, the module and the mutants."""
    print("| kind | why it survives | mutants |")
    print("| --- | --- | --- |")
    for reason, judged in sorted(by_reason.items()):
        kind, _, why = reason.partition(": ")
        modules = sorted({Path(mutant.module).name for mutant in judged})
        names = ", ".join(f"`{short_name(mutant)}`" for mutant in judged)
        print(f"| {kind} ({len(judged)}) | {why} | {', '.join(modules)}: {names} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.score", description=__doc__)
    parser.add_argument("modules", nargs="*", help="paths of mutated modules (default: all)")
    parser.add_argument("--diffs", action="store_true", help="print each survivor's whole diff")
    parser.add_argument(
        "--markdown", action="store_true", help="also print the judged survivors as docs/simulation.md's table"
    )
    args = parser.parse_args(argv)

    mutants = [mutant for mutant in results(args.modules) if mutant.status != "not checked"]
    if not mutants:
        print("no mutant has a result: run scripts/mutate first")
        return 1
    equivalent: set[str] = set()
    survivors: list[tuple[Mutant, str, Judgement | None]] = []
    for mutant in mutants:
        if mutant.status in KILLED:
            continue
        diff = get_diff_for_mutant(mutant.name, path=mutant.module)
        judgement = judge(mutant.name, change(diff))
        if mutant.status == "survived" and message_only(diff):
            equivalent.add(mutant.name)
        elif judgement is not None and judgement.equivalent:
            equivalent.add(mutant.name)
            survivors.append((mutant, diff, judgement))
        else:
            survivors.append((mutant, diff, judgement))

    print(f"{'module':<42} {'mutants':>7} {'killed':>7} {'timeout':>7} {'equiv.':>7} {'survived':>8} {'score':>6}")
    modules = sorted({mutant.module for mutant in mutants})
    for module in [*modules, "total"]:
        mine = [mutant for mutant in mutants if module in ("total", mutant.module)]
        statuses = Counter(mutant.status for mutant in mine)
        killed = statuses["killed"] + statuses["timeout"]
        messages = sum(mutant.name in equivalent for mutant in mine)
        counted = len(mine) - messages
        score = f"{100 * killed / counted:.0f}%" if counted else "-"
        print(
            f"{module:<42} {len(mine):>7} {statuses['killed']:>7} {statuses['timeout']:>7} {messages:>7} "
            f"{counted - killed:>8} {score:>6}"
        )
    if args.markdown:
        print_score_table(mutants, equivalent, [*modules, "total"])
    timed = [mutant.seconds for mutant in mutants if mutant.seconds is not None]
    if timed:
        by_status = {
            status: [m.seconds for m in mutants if m.status == status and m.seconds is not None]
            for status in ("killed", "survived")
        }
        print(
            f"seconds per mutant (wall, one worker): mean {sum(timed) / len(timed):.1f}"
            + "".join(f", {status} {sum(s) / len(s):.1f}" for status, s in by_status.items() if s)
        )
    total_killed = sum(mutant.status in KILLED for mutant in mutants)
    print(
        f"score: {total_killed} killed of {len(mutants) - len(equivalent)} ({len(equivalent)} equivalent left out: "
        "message-only, or judged in mutation/judged.py)"
    )
    unjudged = [entry for entry in survivors if entry[2] is None]
    by_reason: dict[str, list[Mutant]] = {}
    for mutant, _, judgement in survivors:
        if judgement is not None:
            kind = "equivalent" if judgement.equivalent else "gap"
            by_reason.setdefault(f"{kind}: {judgement.why}", []).append(mutant)
    print(f"survivors judged ({len(survivors) - len(unjudged)}), by reason:")
    for reason, judged_mutants in sorted(by_reason.items()):
        print(f"  {len(judged_mutants):>3}  {reason}")
    if args.markdown:
        print_table(by_reason)
    if not args.modules:
        used = {reason.partition(": ")[2] for reason in by_reason}
        for unused in (rule for rule in RULES if rule.judgement.why not in used):
            print(f"rule left unused (no survivor matches it): {unused.function.pattern} / {unused.change.pattern}")
    print(f"survivors not judged yet ({len(unjudged)}):")
    for mutant, diff, _ in unjudged:
        label = "" if mutant.status == "survived" else f" [{mutant.status}]"
        print(f"  {mutant.name}{label}: {change(diff)}")
        if args.diffs:
            print("\n".join(f"      {line}" for line in diff.splitlines()[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
