"""Which characters a regular expression matches as written, and whether folded text can hold them.

Rule patterns run on ``normalize.fold``'s output (lower case, no accents): ``F-16`` or
``crimée`` written in a pattern can never match, and RE2 has no reason to refuse them.
RE2's Python binding exposes no parse tree, so the few constructs that hold written
characters are read here: literals, escapes (``\\x{C9}``, octal, ``\\.``), ``\\Q…\\E``,
class members and range ends, with the ``(?i)`` flag in force at each. Everything
else (``\\pL``, ``\\S``, ``\\b``, group names, flags) is syntax and left alone. Only
patterns RE2 accepted are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from wirewatch.core.normalize import fold

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_FLAG_GROUP = re.compile(r"\(\?([imsU]*(?:-[imsU]*)?)([:)])")  # (?i) (?i:…) (?-i) (?:…)
_NAMED_GROUP = re.compile(r"\(\?P?<[^>]*>")
_NAMED_SET = re.compile(r"\\[pP](?:\{[^}]*\}|.)")  # \pL \p{Lu} \PN
_HEX = re.compile(r"\\x(?:\{([0-9A-Fa-f]+)\}|([0-9A-Fa-f]{2}))")
_OCTAL = re.compile(r"\\([0-7]{1,3})")
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")
# What a folded character must be escaped as to stay a character (NFKD turns "（" into "(").
_METACHARACTERS = frozenset("\\.+*?()|[]{}^$-")


@dataclass(frozen=True)
class _Written:
    """A character a pattern matches as written: its span in the pattern and context."""

    start: int
    end: int
    char: str
    ignore_case: bool  # under (?i), where RE2 matches the lower case too
    quoted: bool  # inside \Q…\E, where a backslash is a backslash
    kind: str = "plain"  # plain, escaped, quoted, class (a member or range end), negated (of [^…])
    depth: int = 0  # groups open around it


def folded_pattern(pattern: str) -> str | None:
    """The pattern with each written character folded text never holds replaced by its
    folded form (``F-16`` → ``f-16``); None when the pattern needs no change, or when
    the changed one is no pattern RE2 runs.

    ``pattern`` must be one RE2 accepts. Under ``(?i)`` an upper-case letter matches its
    lower case, so only what is still not folded text then (an accent, ``ß``) counts.
    """
    fixed: list[str] = []
    copied = 0
    for written in _unfolded(pattern):
        if written.kind == "negated":
            continue  # [^A-Z] holds for every folded letter: folding it would turn it around
        folded = fold(written.char.lower() if written.ignore_case else written.char)
        if not written.quoted:
            folded = "".join(f"\\{char}" if char in _METACHARACTERS else char for char in folded)
        fixed += [pattern[copied : written.start], folded]
        copied = written.end
    if not fixed:
        return None
    suggestion = "".join([*fixed, pattern[copied:]])
    # A folded range end can turn a range around ([A-[] is A to '[', [a-[] nothing RE2 runs).
    return suggestion if _runs(suggestion) else None


def _runs(pattern: str) -> bool:
    from wirewatch.core.itemtext import compile_pattern

    try:
        compile_pattern(pattern)
    except ValueError:
        return False
    return True


def pattern_fold_problem(pattern: str, shown: Callable[[str], str]) -> str | None:
    """Why a pattern RE2 accepts can never match, with the pattern to write instead (both
    shown by ``shown``, as the rule form writes patterns); None if it can.

    Patterns run on ``normalize.fold``'s output: a letter fold changes (F, É, ß) is
    never there to match, and RE2 has no reason to complain about it. Only a pattern
    every match of which needs such a letter is refused: one outside any group and
    class, not made optional by its quantifier, in a pattern with no top-level ``|``.
    ``[Kk]yiv``, ``attaqu[eé]es?``, ``café|cafe``, ``[^A-Z]`` and ``(F-16)?`` can all
    match something, and a watch file that worked before must keep loading.
    """
    if not any(_required(pattern, written) for written in _unfolded(pattern)):
        return None
    if any(w.kind == "plain" and w.char == "|" and w.depth == 0 for w in _written_characters(pattern)):
        return None  # another branch may match
    fixed = folded_pattern(pattern)
    problem = f"regex {shown(pattern)} never matches: patterns are matched against lower-case text without accents"
    return f"{problem}: write {shown(fixed)}" if fixed is not None else problem


def _unfolded(pattern: str) -> Iterator[_Written]:
    """The written characters folded text never holds (``F``, ``é``; ``F`` not under (?i))."""
    for written in _written_characters(pattern):
        seen = written.char.lower() if written.ignore_case else written.char
        if fold(seen) != seen:
            yield written


def _required(pattern: str, written: _Written) -> bool:
    """Whether every match of ``pattern`` needs ``written`` (as far as this reading tells)."""
    if written.kind not in ("plain", "escaped", "quoted") or written.depth:
        return False
    following = pattern[written.end : written.end + 2]
    return not (following[:1] in ("?", "*") or following in ("{0", "{,"))


def _written_characters(pattern: str) -> Iterator[_Written]:
    """The characters a pattern RE2 accepts matches as written: literals, escaped and
    quoted characters, class members and range ends, with the (?i) flag in force there.

    Escapes naming a set or a position (``\\pL``, ``\\S``, ``\\b``), group names and
    flags are syntax, not text, and are left out. Operators (``.``, ``*``, ``|``…) come
    through too: ``fold`` leaves them as they are.
    """
    ignore_case = False
    outside: list[bool] = []  # ignore_case outside each open group, restored at its ')'
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("\\Q", index):
            close = pattern.find("\\E", index + 2)
            close = len(pattern) if close < 0 else close
            for position in range(index + 2, close):
                yield _Written(position, position + 1, pattern[position], ignore_case, True, "quoted", len(outside))
            index = close + 2
        elif char in "\\[":
            written, index = (_escape if char == "\\" else _class)(pattern, index, ignore_case)
            yield from (replace(each, depth=len(outside)) for each in written)
        elif flags := _FLAG_GROUP.match(pattern, index):
            on, _, off = flags.group(1).partition("-")
            if flags.group(2) == ":":
                outside.append(ignore_case)
            ignore_case = "i" in on or (ignore_case and "i" not in off)
            index = flags.end()
        elif named := _NAMED_GROUP.match(pattern, index):
            outside.append(ignore_case)
            index = named.end()
        else:
            if char == ")" and outside:
                ignore_case = outside.pop()
            yield _Written(index, index + 1, char, ignore_case, False, "plain", len(outside))
            if char == "(":
                outside.append(ignore_case)
            index += 1


def _class(pattern: str, start: int, ignore_case: bool) -> tuple[list[_Written], int]:
    """The members and range ends of the class opening at ``start``, and where it ends."""
    negated = pattern.startswith("[^", start)
    kind = "negated" if negated else "class"
    index = start + (2 if negated else 1)
    members: list[_Written] = []
    if pattern.startswith("]", index):  # first in a class, ']' is a member
        members.append(_Written(index, index + 1, "]", ignore_case, False, kind))
        index += 1
    range_end = False  # after "a-": one character, even a '[' ([A-[:alpha:]] is A to '[', then more)
    while pattern[index] != "]":  # RE2 accepted the pattern: the class is closed
        if not range_end and (posix := _POSIX_CLASS.match(pattern, index)):
            index = posix.end()  # [:alpha:], whose ']' does not close the class
            continue
        dash = pattern[index] == "-" and bool(members) and not range_end
        if pattern[index] == "\\":
            escaped, index = _escape(pattern, index, ignore_case)
            members += (replace(each, kind=kind) for each in escaped)
        else:
            members.append(_Written(index, index + 1, pattern[index], ignore_case, False, kind))
            index += 1
        range_end = dash
    return members, index + 1


def _escape(pattern: str, start: int, ignore_case: bool) -> tuple[list[_Written], int]:
    """The character the escape at ``start`` stands for (none for a set or a position:
    ``\\pL``, ``\\S``, ``\\b``), and where the escape ends."""
    if hexadecimal := _HEX.match(pattern, start):
        end, meant = hexadecimal.end(), chr(int(hexadecimal.group(1) or hexadecimal.group(2), 16))
    elif octal := _OCTAL.match(pattern, start):
        end, meant = octal.end(), chr(int(octal.group(1), 8))
    elif named_set := _NAMED_SET.match(pattern, start):
        return [], named_set.end()
    elif pattern[start + 1].isascii() and pattern[start + 1].isalpha():
        # \d \S \b \A \z \C, or a control character (\n, \t) fold leaves alone. RE2 refuses
        # any other letter (\F), so an escaped upper-case letter is never a literal here.
        return [], start + 2
    else:
        end, meant = start + 2, pattern[start + 1]  # \. \\ \- … stand for themselves
    return [_Written(start, end, meant, ignore_case, False, "escaped")], end


__all__ = ["folded_pattern", "pattern_fold_problem"]
