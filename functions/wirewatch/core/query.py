"""The ``query:`` form of a rule: one boolean search string → the same tree as ``match:``.

A query reads like the boolean search of media-monitoring tools::

    (Austin OR "defense secretary") AND (Belousov OR Beloussov) AND (call* OR spoke OR talk*)
    Austin NEAR/5 Belousov
    title:(Crimea OR Crimean) AND (strike* OR attack*) NOT "Crimean War"
    $crimea_places AND /f-?(16|35)/

and the same in French::

    "ministre russe de la défense" AND (entret* OR téléphon*)
    title:(Crimée OR Sébastopol) AND (frappe* OR attaqu*) NOT "guerre de Crimée"
    "chef du Pentagone" NEAR/10 Beloussov
    États-Unis l'attaque "pont de Crim*"

Operators are written in capitals: ``AND``, ``OR``, ``NOT`` and ``NEAR/n``. In
lower case, ``and``, ``or`` and ``not`` are ordinary words (in French *or* is
gold); ``"OR"`` in quotes is the word too. ``NOT`` binds tightest, then
``NEAR``, then ``AND`` (written, or implied between two operands side by side),
then ``OR``; parentheses group. ``a NOT b`` and ``a AND NOT b`` both mean
all(a, none(b)).

Grammar (EBNF; tokens are separated by white space where they would otherwise run
together)::

    query    = or_expr EOF ;
    or_expr  = and_expr { "OR" and_expr } ;
    and_expr = near_expr { [ "AND" ] near_expr } ;      (* no AND: implicit *)
    near_expr= unary { NEAR unary } ;                   (* both sides: term or $list *)
    unary    = { "NOT" } scoped ;
    scoped   = [ FIELD ] primary ;
    primary  = WORD | PHRASE | LIST | REGEX | "(" or_expr ")" ;

    NEAR     = "NEAR/" digits ;                          (* 1 to 50 words apart *)
    FIELD    = ( "title" | "summary" | "content" ) ":" ;  (* any other name: error *)
    PHRASE   = '"' { any char but '"' } '"' [ "*" ] ;    (* "pont de Crim*": prefix *)
    LIST     = "$" name ;                                (* name: letters, digits, _ and - *)
    REGEX    = "/" { any char but "/" | "\\/" } "/" ;    (* \\/ is a slash in the pattern *)
    WORD     = run of characters other than white space ( ) " : with an optional trailing * ;
               not starting with $ or / ; AND, OR, NOT and NEAR... are operators, not words

Field names are case-insensitive (``Title:`` = ``title:``); any other ``name:`` is
an error, so quote text with a colon (``"10:30"``). ``NEAR/n`` holds when the two
terms are at most n words apart in either order (``NEAR/1``: side by side;
counted from the end of the first term to the start of the second, as
``matching`` does); its clause text, shown in alerts, is ``left NEAR/n right``
with each side as written (``"chef du Pentagone" NEAR/5 $russian_defence``). A
``*`` only ends a word or phrase, and a leading ``-`` is refused rather than
silently searched for (write ``NOT``).

A word or phrase is compiled by ``terms.compile_term``, exactly as a term of the
``match:`` form: case, accents and French elisions are folded, and a word with an
inner apostrophe or hyphen (``États-Unis``, ``F-35``) is one operand whose
tokens make a phrase. ``$name`` stands for any term of the named list;
``/pattern/`` is an RE2 regular expression over the folded text (lower case, no
accents), checked when the query is parsed: one with a letter folded text never
holds (``/F-16/``, ``/crimée/``) is refused. A field prefix applies to the
operand or parenthesised group that follows it; one outside the rule's fields,
or inside another prefix (``title:(summary:a)``), is refused.

The tree is kept small and canonical: nested groups of the same operator are
flattened (``a AND b AND c`` is one ``all`` of three), a group of one child is
the child, the ``none`` children of an ``all`` merge into one, ``NOT (a OR b)``
is none(a, b) and ``NOT NOT a`` is ``a``. A query must need something to be
present (``NOT crimea`` or ``a OR NOT b`` alone is refused).

Every mistake raises ``QuerySyntaxError`` with the 1-based column it is at;
a clause that parses but can never match raises its subclass ``NeverMatchesError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wirewatch.core.conditions import field_scope_problem, requires_presence
from wirewatch.core.model import ALL_FIELDS, Field, Group, Near, Pattern, Scoped, Term
from wirewatch.core.pattern_literals import pattern_fold_problem
from wirewatch.core.terms import OPENING_QUOTES, compile_term, term_problem

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from wirewatch.core.model import Node

NEAR_MAX = 50
MAX_DEPTH = 64  # nested parentheses; deeper is a mistake, and would exhaust the stack

_FIELDS = {part.value: part for part in Field}
_RUN_STOPS = frozenset('()":')
_OPERATORS = frozenset({"AND", "OR", "NOT"})

# Token kinds.
_WORD, _PHRASE, _LIST, _REGEX, _FIELD = "word", "phrase", "list", "regex", "field"
_LPAREN, _RPAREN, _AND, _OR, _NOT, _NEAR, _EOF = "(", ")", "AND", "OR", "NOT", "NEAR", "end"
# Tokens that begin an operand: one of them after an operand is an implicit AND.
_STARTS = frozenset({_WORD, _PHRASE, _LIST, _REGEX, _FIELD, _LPAREN, _NOT})


class QuerySyntaxError(ValueError):
    """A query that cannot be compiled, with the 1-based column of the mistake."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column


class NeverMatchesError(QuerySyntaxError):
    """A clause that parses but can never match: a field prefix outside the fields the
    rule searches there, a regex with letters folded text never holds."""


def parse_query(
    text: str, lists: Mapping[str, Sequence[str]] | None = None, fields: Sequence[Field] = ALL_FIELDS
) -> Node:
    """Compile a query string to the rule tree; ``lists`` resolves ``$name`` references,
    ``fields`` are those the rule searches.

    Raises:
        QuerySyntaxError: the query is malformed, refers to an unknown list, has a
            term with no word, a regex RE2 cannot run, or nothing positive.
        NeverMatchesError: a clause can never match.
    """
    node = _Parser(text, _tokenize(text), lists or {}, tuple(fields)).parse()
    if not requires_presence(node):
        raise QuerySyntaxError("a query needs at least one positive term", 1)
    return node


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str
    start: int  # index in the query of the first character
    end: int  # index just past the last character
    value: str = ""  # word or phrase as compile_term takes it, list or field name, regex pattern
    distance: int = 0  # NEAR/n

    @property
    def column(self) -> int:
        return self.start + 1


def _tokenize(text: str) -> list[_Token]:
    found: list[_Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char == ":":
            raise QuerySyntaxError("unexpected ':'", index + 1)
        if char in "()":
            token = _Token(_LPAREN if char == "(" else _RPAREN, index, index + 1)
        elif char in OPENING_QUOTES:
            token = _phrase(text, index, OPENING_QUOTES[char])
        elif char == "/":
            token = _regex(text, index)
        else:
            token = _run(text, index)
        found.append(token)
        index = token.end
    end = len(text.rstrip())
    found.append(_Token(_EOF, end, end))
    return found


def _phrase(text: str, start: int, closing: str) -> _Token:
    close = text.find(closing, start + 1)
    if close < 0:
        shown = "quote" if closing == '"' else f"quote: {text[start]} needs its {closing}"
        raise QuerySyntaxError(f"unclosed {shown}", start + 1)
    body = text[start + 1 : close]
    end = close + 1
    if text[end : end + 1] == "*":  # "pont de Crim"* reads as "pont de Crim*"
        body, end = body.rstrip() + "*", end + 1
    inner = body.strip().rstrip("*")
    if "*" in inner:
        raise QuerySyntaxError("'*' can only end a phrase", start + 2 + body.index("*"))
    return _Token(_PHRASE, start, end, body)


def _regex(text: str, start: int) -> _Token:
    pattern: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "/":
            if not pattern:
                raise QuerySyntaxError("empty regex", start + 1)
            return _Token(_REGEX, start, index + 1, "".join(pattern))
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            pattern.append(following if following == "/" else char + following)
            index += 2
        else:
            pattern.append(char)
            index += 1
    raise QuerySyntaxError("unclosed regex (a '/' without its closing '/')", start + 1)


def _run(text: str, start: int) -> _Token:
    """A word, a list reference, an operator or a field prefix: characters up to a stop."""
    end = start
    while end < len(text) and not text[end].isspace() and text[end] not in _RUN_STOPS:
        end += 1
    run = text[start:end]
    column = start + 1
    if run.startswith("$"):
        name = run[1:]
        if not name or not all(char.isalnum() or char in "_-" for char in name):
            raise QuerySyntaxError(f"invalid list reference {run!r} ($ then letters, digits, '_' or '-')", column)
        if text[end : end + 1] == ":":
            raise QuerySyntaxError("unexpected ':'", end + 1)
        return _Token(_LIST, start, end, name)
    if text[end : end + 1] == ":":
        field = _FIELDS.get(run.lower())
        if field is None:
            raise QuerySyntaxError(f"unknown field {run!r} (title, summary or content)", column)
        return _Token(_FIELD, start, end + 1, field.value)
    if run in _OPERATORS:
        return _Token(run, start, end)
    if run == "NEAR" or run.startswith("NEAR/"):
        return _near_operator(run, start, end)
    body = run.rstrip("*")
    if "*" in body:
        raise QuerySyntaxError("'*' can only end a word", start + 1 + body.index("*"))
    if len(run) > 1 and run.startswith("-"):
        raise QuerySyntaxError(f"a leading '-' does not exclude: write NOT {run[1:]}", column)
    return _Token(_WORD, start, end, run)


def _near_operator(run: str, start: int, end: int) -> _Token:
    digits = run[len("NEAR/") :]
    if not digits.isascii() or not digits.isdigit():
        raise QuerySyntaxError("NEAR needs a distance, e.g. NEAR/5", start + 1)
    distance = int(digits) if len(digits) <= len(str(NEAR_MAX)) else 0
    if not 1 <= distance <= NEAR_MAX:
        raise QuerySyntaxError(f"NEAR distance must be 1 to {NEAR_MAX} words, not {digits}", start + 1)
    return _Token(_NEAR, start, end, distance=distance)


# ---------------------------------------------------------------- parser


@dataclass(frozen=True)
class _Operand:
    """A parsed operand, with what a NEAR clause needs to know about it."""

    node: Node
    start: int
    kind: str  # "term", "list", "group", "not", "field", "regex" or "near"
    terms: tuple[Term, ...] = ()  # for "term" and "list": the terms a NEAR side stands for
    written: str = ""  # for "term" and "list": the operand as written

    @property
    def column(self) -> int:
        return self.start + 1


_NOT_A_SIDE = {
    "group": "a group in parentheses",
    "not": "NOT",
    "field": "a field prefix (put it before the whole clause: title:(a NEAR/5 b))",
    "regex": "a regex",
}


class _Parser:
    def __init__(
        self, text: str, tokens: list[_Token], lists: Mapping[str, Sequence[str]], fields: tuple[Field, ...]
    ) -> None:
        self.text = text
        self.tokens = tokens
        self.lists = lists
        self.position = 0
        self.depth = 0
        self.fields = fields  # those searched where the parser is: the rule's, or a prefix's
        self.enclosing: str | None = None  # the field prefix the parser is in, as written

    @property
    def token(self) -> _Token:
        return self.tokens[self.position]

    def advance(self) -> _Token:
        token = self.tokens[self.position]
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> Node:
        node = self.or_expr(after=None, opener=None)
        if self.token.kind != _EOF:
            raise QuerySyntaxError(f"unexpected {self._shown(self.token)}", self.token.column)
        return node

    # after: the operator or prefix just read, which needs an operand ("AND", "title:");
    # opener: the '(' just read. Both None at the start of the query.

    def or_expr(self, after: str | None, opener: _Token | None) -> Node:
        children = [self.and_expr(after, opener)]
        while self.token.kind == _OR:
            self.advance()
            children.append(self.and_expr("OR", None))
        return _group("any", children)

    def and_expr(self, after: str | None, opener: _Token | None) -> Node:
        children = [self.near_expr(after, opener).node]
        while self.token.kind == _AND or self.token.kind in _STARTS:
            if self.token.kind == _AND:
                self.advance()
                children.append(self.near_expr("AND", None).node)
            else:
                children.append(self.near_expr(None, None).node)
        return _group("all", children)

    def near_expr(self, after: str | None, opener: _Token | None) -> _Operand:
        left = self.unary(after, opener)
        while self.token.kind == _NEAR:
            operator = self.advance()
            if left.kind == "near":
                raise QuerySyntaxError("NEAR clauses cannot be chained: join them with AND", operator.column)
            right = self.unary(f"NEAR/{operator.distance}", None)
            left = self._near(left, right, operator.distance)
        return left

    def unary(self, after: str | None, opener: _Token | None) -> _Operand:
        negations: list[_Token] = []
        while self.token.kind == _NOT:
            negations.append(self.advance())
            after, opener = "NOT", None
        operand = self.scoped(after, opener)
        if not negations:
            return operand
        node = operand.node
        for _ in negations:
            node = _negate(node)
        return _Operand(node, negations[0].start, "not")

    def scoped(self, after: str | None, opener: _Token | None) -> _Operand:
        if self.token.kind != _FIELD:
            return self.primary(after, opener)
        prefix = self.advance()
        field, written = Field(prefix.value), self.text[prefix.start : prefix.end]
        problem = field_scope_problem(written, field, self.fields, self.enclosing)
        if problem:
            raise NeverMatchesError(problem, prefix.column)
        outside = self.fields, self.enclosing
        self.fields, self.enclosing = (field,), written
        operand = self.primary(f"{prefix.value}:", None)
        self.fields, self.enclosing = outside
        return _Operand(Scoped(field, operand.node), prefix.start, "field")

    def primary(self, after: str | None, opener: _Token | None) -> _Operand:
        token = self.token
        if token.kind in (_WORD, _PHRASE):
            self.advance()
            term = self._term(token.value, token)
            return _Operand(term, token.start, "term", (term,), self.text[token.start : token.end])
        if token.kind == _LIST:
            self.advance()
            terms = self._list(token)
            return _Operand(_group("any", terms), token.start, "list", terms, f"${token.value}")
        if token.kind == _REGEX:
            self.advance()
            return _Operand(self._pattern(token), token.start, "regex")
        if token.kind == _LPAREN:
            return self.parenthesised()
        raise self._missing_operand(after, opener)

    def parenthesised(self) -> _Operand:
        opener = self.advance()
        if self.depth >= MAX_DEPTH:
            raise QuerySyntaxError(f"more than {MAX_DEPTH} nested parentheses", opener.column)
        self.depth += 1
        node = self.or_expr(after=None, opener=opener)
        self.depth -= 1
        if self.token.kind != _RPAREN:
            raise QuerySyntaxError("unclosed '('", opener.column)
        self.advance()
        return _Operand(node, opener.start, "group")

    def _missing_operand(self, after: str | None, opener: _Token | None) -> QuerySyntaxError:
        token = self.token
        if after is not None:
            return QuerySyntaxError(f"expected a term after {after}", token.column)
        if opener is not None:
            if token.kind == _EOF:
                return QuerySyntaxError("unclosed '('", opener.column)
            if token.kind == _RPAREN:
                return QuerySyntaxError("empty parentheses", opener.column)
        if token.kind == _EOF:
            return QuerySyntaxError("empty query", 1)
        if token.kind in (_AND, _OR, _NEAR):
            return QuerySyntaxError(f"expected a term before {self._shown(token)}", token.column)
        return QuerySyntaxError(f"unexpected {self._shown(token)}", token.column)

    def _shown(self, token: _Token) -> str:
        written = self.text[token.start : token.end]
        return f"'{written}'" if token.kind in (_LPAREN, _RPAREN) else written

    # ------------------------------------------------------------ operands

    def _term(self, written: str, token: _Token) -> Term:
        problem = term_problem(written)
        if problem:
            raise QuerySyntaxError(f"{self.text[token.start : token.end]!r} {problem}", token.column)
        return compile_term(written)

    def _list(self, token: _Token) -> tuple[Term, ...]:
        entries = self.lists.get(token.value)
        if entries is None:
            known = ", ".join(f"${name}" for name in sorted(self.lists)) or "none is defined under lists:"
            raise QuerySyntaxError(f"unknown list ${token.value} (lists: {known})", token.column)
        terms: list[Term] = []
        for entry in entries:
            if not isinstance(entry, str):
                raise QuerySyntaxError(f"list ${token.value}: {entry!r} is not a term", token.column)
            problem = term_problem(entry)
            if problem:
                raise QuerySyntaxError(f"list ${token.value}: term {entry!r} {problem}", token.column)
            terms.append(compile_term(entry))
        if not terms:
            raise QuerySyntaxError(f"list ${token.value} is empty", token.column)
        return tuple(terms)

    def _pattern(self, token: _Token) -> Pattern:
        from wirewatch.core.itemtext import compile_pattern

        try:
            compile_pattern(token.value)
        except ValueError as exc:
            raise QuerySyntaxError(f"invalid regex: {exc}", token.column) from exc
        problem = pattern_fold_problem(token.value, _as_written)
        if problem:
            raise NeverMatchesError(problem, token.column)
        return Pattern(token.value)

    def _near(self, left: _Operand, right: _Operand, distance: int) -> _Operand:
        for side in (left, right):
            if side.kind not in ("term", "list"):
                what = _NOT_A_SIDE.get(side.kind, side.kind)
                raise QuerySyntaxError(
                    f"NEAR needs a word, phrase, prefix or $list on each side, not {what}", side.column
                )
        text = f"{left.written} NEAR/{distance} {right.written}"
        clauses = [Near(one, other, distance, text) for one in left.terms for other in right.terms]
        return _Operand(_group("any", clauses), left.start, "near")


def _as_written(pattern: str) -> str:
    """A pattern as a query writes it: between slashes, its own slashes escaped."""
    return "/" + pattern.replace("/", "\\/") + "/"


# ---------------------------------------------------------------- tree


def _group(op: str, children: Sequence[Node]) -> Node:
    """``op`` over ``children``, flattened: nested ``op`` groups inlined, ``none`` children of
    an ``all`` merged into one, a single child returned as itself."""
    flat: list[Node] = []
    for child in children:
        if isinstance(child, Group) and child.op == op:
            flat.extend(child.children)
        else:
            flat.append(child)
    if op == "all":
        excluded = [c for child in flat if isinstance(child, Group) and child.op == "none" for c in child.children]
        if excluded:
            first = next(i for i, child in enumerate(flat) if isinstance(child, Group) and child.op == "none")
            kept = [child for child in flat if not (isinstance(child, Group) and child.op == "none")]
            flat = [*kept[:first], Group("none", tuple(excluded)), *kept[first:]]
    return flat[0] if len(flat) == 1 else Group(op, tuple(flat))


def _negate(node: Node) -> Node:
    """NOT node: none of an ``any`` group's children; NOT of a ``none`` is any of its children."""
    if isinstance(node, Group) and node.op == "none":
        return _group("any", node.children)
    if isinstance(node, Group) and node.op == "any":
        return Group("none", node.children)
    return Group("none", (node,))


__all__ = ["NEAR_MAX", "NeverMatchesError", "QuerySyntaxError", "parse_query"]
