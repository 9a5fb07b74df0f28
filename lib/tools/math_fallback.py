"""Local SymPy answers for maths questions (the wolfram_alpha fallback when no App ID is set).

Two halves:
- `plan(query)` (parent process, stdlib only): recognises integrals, derivatives, equations, limits,
  factor/expand/simplify and plain arithmetic, and checks every expression against a strict whitelist
  (digits, operators, parentheses, single-letter variables, known function names). Anything else is
  "not maths" and returns None.
- `solve_in_child(plan, timeout_s)`: runs this file as a separate Python process (`python -I`) with CPU
  and memory limits and a wall-clock timeout, because SymPy's parser uses eval and integrals can hang.
  The child checks the whitelist again before parsing.

This module must not import anything from the package: the child runs it as a plain script.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass

MAX_QUERY_CHARS = 300

FUNCTIONS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "acot",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "exp", "log", "ln", "sqrt", "cbrt", "abs", "factorial", "floor", "ceiling", "gamma",
}
CONSTANTS = {"pi", "e", "oo"}
_RENAMES = {
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "infinity": "oo", "inf": "oo",
    "ceil": "ceiling",
}
# After normalisation an expression may only contain these characters.
_SAFE_CHARS = re.compile(r"^[a-z0-9+\-*/^().,!= ]+$")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Plan:
    """What to compute: op is integral|derivative|solve|limit|factor|expand|simplify|evaluate."""

    op: str
    expr: str
    var: str | None = None
    lower: str | None = None  # integral bounds or limit point
    upper: str | None = None
    order: int = 1
    direction: str | None = None  # limit side "+" or "-"


def _normalise(query: str) -> str:
    text = query.strip().lower()
    replacements = {
        "∫": " integral of ", "×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "²": "^2", "³": "^3",
        "√": "sqrt", "π": "pi", "∞": "oo", "→": "->", "≈": "=", "**": "^",
        "with respect to": "wrt", "w.r.t.": "wrt", "w.r.t": "wrt", "approaches": "->", "tends to": "->",
    }
    for old, new in replacements.items():
        text = text.replace(old, new)
    text = re.sub(r"[?.\s]+$", "", text)
    prefixes = (
        r"(please\s+)?(can you\s+|could you\s+)?(what\s+is|what's|whats|calculate|compute|evaluate|"
        r"find|work out|determine|give me|tell me|how much is)\s+"
    )
    text = re.sub(r"^" + prefixes, "", text)
    text = re.sub(r"^(the\s+)?(value\s+of\s+)?", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _clean_expr(expr: str) -> str | None:
    """The expression rewritten for SymPy's parser, or None if it is not safe/plain maths."""
    expr = expr.strip().strip(",")
    if not expr or len(expr) > MAX_QUERY_CHARS or not _SAFE_CHARS.match(expr):
        return None
    if "__" in expr or re.search(r"\.(?!\d)", expr) or re.search(r"[a-z]\s*\.", expr):
        return None
    words = []

    def fix(match: re.Match[str]) -> str:
        word = _RENAMES.get(match.group(0), match.group(0))
        if word in FUNCTIONS or word in CONSTANTS or len(word) == 1:
            words.append(word)
            return word
        for fn in sorted(FUNCTIONS, key=len, reverse=True):  # "sinx" -> "sin x"
            rest = word[len(fn):]
            if word.startswith(fn) and len(rest) == 1:
                words.append(fn)
                return f"{fn} {rest}"
        raise ValueError(word)

    try:
        expr = _WORD.sub(fix, expr)
    except ValueError:
        return None
    # "sin x cos x" means sin(x)*cos(x), not sin(x*cos(x)): bracket bare function arguments.
    fn_names = "|".join(sorted(FUNCTIONS, key=len, reverse=True))
    expr = re.sub(
        rf"\b({fn_names})\s+(\d*\.?\d*[a-z]?(?:\^\d+)?)(?![\w(])",
        lambda m: f"{m.group(1)}({m.group(2)})" if m.group(2) else m.group(0),
        expr,
    )
    if expr.count("(") != expr.count(")"):
        return None
    return expr


def _var(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip()
    return name if re.fullmatch(r"[a-z]", name) and name != "e" else None


def plan(query: str) -> Plan | None:
    """Recognise a maths question; None when it is not one the local fallback can answer.

    >>> plan("integral of x^2 sin x").op
    'integral'
    >>> plan("population of France") is None
    True
    """
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
        return None
    text = _normalise(query)
    if not text:
        return None

    def build(op: str, expr: str, **kw) -> Plan | None:
        clean = _clean_expr(expr)
        if clean is None:
            return None
        for key in ("lower", "upper"):
            if kw.get(key) is not None:
                kw[key] = _clean_expr(kw[key])
                if kw[key] is None:
                    return None
        if "var" in kw and kw["var"] is not None and _var(kw["var"]) is None:
            return None
        return Plan(op=op, expr=clean, **kw)

    m = re.fullmatch(
        r"(?:definite\s+)?(?:integral|integrate)\s+from\s+(.+?)\s+to\s+(.+?)\s+of\s+(.+?)(?:\s*\bd([a-z]))?", text
    )
    if m:
        return build("integral", m.group(3), var=m.group(4), lower=m.group(1), upper=m.group(2))
    m = re.fullmatch(
        r"(?:the\s+)?(?:indefinite\s+|definite\s+)?(?:integral|integrate|antiderivative)(?:\s+of)?\s+(.+?)"
        r"(?:\s+from\s+(.+?)\s+to\s+(.+?))?(?:\s*\bd([a-z]))?(?:\s+(?:from\s+(.+?)\s+to\s+(.+?)))?"
        r"(?:\s+wrt\s+([a-z]))?",
        text,
    )
    if m:
        lower = m.group(2) or m.group(5)
        upper = m.group(3) or m.group(6)
        return build("integral", m.group(1), var=m.group(4) or m.group(7), lower=lower, upper=upper)

    m = re.fullmatch(
        r"(?:the\s+)?(first\s+|second\s+|third\s+)?(?:derivative|differentiate)(?:\s+of)?\s+(.+?)"
        r"(?:\s+wrt\s+([a-z]))?",
        text,
    ) or None
    if m:
        order = {"second": 2, "third": 3}.get((m.group(1) or "").strip(), 1)
        return build("derivative", m.group(2), var=m.group(3), order=order)
    m = re.fullmatch(r"d(?:\^(\d))?/d([a-z])(?:\^\d)?\s*(.+)", text)
    if m:
        order = int(m.group(1) or 1)
        return build("derivative", m.group(3), var=m.group(2), order=min(order, 5))

    m = re.fullmatch(r"(?:lim|limit)(?:\s+of)?\s+(.+?)\s+as\s+([a-z])\s*->\s*(.+?)(\^?[+-])?", text)
    if m:
        expr, var, point, side = m.group(1), m.group(2), m.group(3), m.group(4)
    else:
        m = re.fullmatch(r"(?:lim|limit)\s+(?:as\s+)?([a-z])\s*->\s*(\S+?)(\^?[+-])?\s+(?:of\s+)?(.+)", text)
        if m:
            var, point, side, expr = m.group(1), m.group(2), m.group(3), m.group(4)
    if m:
        return build("limit", expr, var=var, lower=point, direction=side[-1] if side else None)

    m = re.fullmatch(r"(?:solve|roots\s+of|zeros\s+of|solutions\s+of)\s+(.+?)(?:\s+for\s+([a-z]))?", text)
    if m:
        return build("solve", m.group(1).replace(" and ", ", "), var=m.group(2))

    m = re.fullmatch(r"(factor|factorise|factorize|expand|simplify)\s+(.+)", text)
    if m:
        op = {"factorise": "factor", "factorize": "factor"}.get(m.group(1), m.group(1))
        return build(op, m.group(2))

    if "=" in text:  # a bare equation: solve it
        if text.count("=") == 1 and re.search(r"\b[a-df-z]\b", text):
            return build("solve", text)
        return None
    clean = _clean_expr(text)
    if clean is None or not re.search(r"[0-9+\-*/^!(]", clean):
        return None
    if not re.search(r"\d", clean) and not (set(_WORD.findall(clean)) & (FUNCTIONS | {"pi", "oo"})):
        return None
    return Plan(op="evaluate" if not re.search(r"\b[a-df-z]\b", clean) else "simplify", expr=clean)


# --- parent side ------------------------------------------------------------------------------


class MathError(Exception):
    """The child could not answer; the message is user-facing."""


def solve_in_child(p: Plan, timeout_s: float, cpu_s: int = 5, memory_mb: int = 1024) -> str:
    """Run the plan in a separate, resource-limited Python process; the answer text or MathError."""
    request = json.dumps({"plan": asdict(p), "cpu_s": max(1, int(cpu_s)), "memory_mb": memory_mb})
    try:
        proc = subprocess.run(
            [sys.executable, "-I", os.path.abspath(__file__)],
            input=request,
            capture_output=True,
            text=True,
            timeout=max(0.1, timeout_s),
            env={"LANG": "C.UTF-8"},
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    except subprocess.TimeoutExpired:
        raise MathError(f"the calculation did not finish within {timeout_s:.1f} s") from None
    except OSError as exc:
        raise MathError(f"could not start the calculation ({type(exc).__name__})") from None
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        if proc.returncode and proc.returncode < 0:
            raise MathError("the calculation was stopped: it needed too much time or memory") from None
        raise MathError("the calculation failed") from None
    if not answer.get("ok"):
        raise MathError(str(answer.get("error") or "the calculation failed"))
    return str(answer["text"])


# --- child side -------------------------------------------------------------------------------


def _child_main() -> None:
    import resource

    request = json.loads(sys.stdin.read())
    cpu = int(request.get("cpu_s", 5))
    mem = int(request.get("memory_mb", 1024)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    import sympy  # noqa: F401  (imported before the CPU limit starts counting the calculation)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu, used + cpu + 1))
    try:
        text = _compute(Plan(**request["plan"]))
        out = {"ok": True, "text": text}
    except MemoryError:
        out = {"ok": False, "error": "the calculation needed too much memory"}
    except MathError as exc:
        out = {"ok": False, "error": str(exc)}
    except Exception as exc:  # parse errors, SymPy NotImplementedError, ...
        out = {"ok": False, "error": f"SymPy could not handle this ({type(exc).__name__})"}
    sys.stdout.write(json.dumps(out) + "\n")


def _compute(p: Plan) -> str:
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    letters = {c: sympy.Symbol(c) for c in "abcdfghijklmnopqrstuvwxyz"}
    local = dict(letters, e=sympy.E, i=sympy.I, ln=sympy.log, oo=sympy.oo, pi=sympy.pi, abs=sympy.Abs,
                 cbrt=sympy.cbrt, ceiling=sympy.ceiling)

    def parse(text: str):
        if "=" in text or _clean_expr(text) != text:  # whitelist again, in the child, before anything reaches eval
            raise MathError("this expression contains characters or names the fallback does not accept")
        try:
            return parse_expr(text, local_dict=dict(local), transformations=transformations)
        except (SyntaxError, TypeError, ValueError, sympy.SympifyError) as exc:
            raise MathError(f"could not read {text!r} as a formula") from exc

    def pick_var(expr) -> "sympy.Symbol":
        if p.var:
            return letters[p.var]
        free = sorted(getattr(expr, "free_symbols", set()), key=lambda s: s.name)
        for s in free:
            if s.name == "x":
                return s
        return free[0] if free else letters["x"]

    def fmt(value) -> str:
        if value is sympy.zoo or value is sympy.nan:
            return "undefined"
        return sympy.sstr(value)

    def approx(value) -> str:
        try:
            if value.is_number and not value.is_Integer and not value.is_Rational and value.is_finite:
                return f" ≈ {sympy.N(value, 12)}"
            if value.is_Rational and not value.is_Integer:
                return f" ≈ {sympy.N(value, 12)}"
        except Exception:
            pass
        return ""

    if p.op == "solve":
        parts = [s.strip() for s in p.expr.split(",") if s.strip()]
        equations = []
        for part in parts:
            if "=" in part:
                lhs, _, rhs = part.partition("=")
                equations.append(sympy.Eq(parse(lhs.strip()), parse(rhs.strip())))
            else:
                equations.append(sympy.Eq(parse(part), 0))
        free = set().union(*(eq.free_symbols for eq in equations))
        if len(equations) == 1:
            var = letters[p.var] if p.var else pick_var(equations[0])
            sols = sympy.solve(equations[0], var)
            shown = _eq_text(equations[0])
            if not sols:
                return f"{shown} has no solutions for {var}"
            return f"{shown} → " + " or ".join(f"{var} = {fmt(s)}" for s in sols)
        syms = sorted(free, key=lambda s: s.name)
        sols = sympy.solve(equations, syms, dict=True)
        shown = ", ".join(_eq_text(eq) for eq in equations)
        if not sols:
            return f"{shown} has no solutions"
        return f"{shown} → " + " or ".join(
            ", ".join(f"{k} = {fmt(v)}" for k, v in sorted(s.items(), key=lambda kv: kv[0].name)) for s in sols
        )

    expr = parse(p.expr)
    if p.op == "integral":
        var = pick_var(expr)
        if p.lower is not None and p.upper is not None:
            lo, hi = parse(p.lower), parse(p.upper)
            value = sympy.integrate(expr, (var, lo, hi))
            if isinstance(value, sympy.Integral):
                raise MathError("SymPy found no closed form for this integral")
            return f"∫ from {fmt(lo)} to {fmt(hi)} of {fmt(expr)} d{var} = {fmt(value)}{approx(value)}"
        value = sympy.integrate(expr, var)
        if isinstance(value, sympy.Integral) or value.has(sympy.Integral):
            raise MathError("SymPy found no closed form for this integral")
        return f"∫ {fmt(expr)} d{var} = {fmt(value)} + C"
    if p.op == "derivative":
        var = pick_var(expr)
        value = sympy.diff(expr, var, p.order)
        prefix = f"d/d{var}" if p.order == 1 else f"d^{p.order}/d{var}^{p.order}"
        return f"{prefix} ({fmt(expr)}) = {fmt(sympy.simplify(value))}"
    if p.op == "limit":
        var = pick_var(expr)
        point = parse(p.lower or "0")
        value = sympy.limit(expr, var, point, p.direction or "+-")
        side = p.direction or ""
        return f"lim {var}→{fmt(point)}{side} of {fmt(expr)} = {fmt(value)}"
    if p.op == "factor":
        return f"{p.expr} = {fmt(sympy.factor(expr))}"
    if p.op == "expand":
        return f"{p.expr} = {fmt(sympy.expand(expr))}"
    if p.op == "simplify":
        return f"{p.expr} = {fmt(sympy.simplify(expr))}"
    # evaluate: exact value, plus a decimal approximation when that adds information
    if expr.has(sympy.Float):
        number = sympy.N(expr, 15)
        if number.is_real and number.is_finite:
            return f"{p.expr} = {float(number):.15g}"
        return f"{p.expr} = {fmt(number)}"
    value = sympy.simplify(expr)
    return f"{p.expr} = {fmt(value)}{approx(value)}"


def _eq_text(eq) -> str:
    import sympy

    return f"{sympy.sstr(eq.lhs)} = {sympy.sstr(eq.rhs)}"


if __name__ == "__main__":
    _child_main()
