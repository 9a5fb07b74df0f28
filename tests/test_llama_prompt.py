"""lib.tool_calling.llama_prompt: what the model is told, and how its tool calls are read back."""

from __future__ import annotations

import builtins
import datetime
import json
import keyword
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lib.tool_calling.llama_prompt import (
    KNOWLEDGE_CUTOFF,
    MAX_CALLS,
    ToolCall,
    build_system_prompt,
    call_text,
    calls_text,
    custom_tools_message,
    may_be_tool_call,
    parse_tool_call,
    parse_tool_calls,
    render_raw_prompt,
    strip_special_tokens,
)

# ------------------------------------------------------------------------------------------ ToolCall


def test_toolcall_defaults_allow_two_argument_construction():
    call = ToolCall("get_weather", {"city": "Paris"})
    assert call.form == "json"
    assert ToolCall("noop").arguments == {}
    with pytest.raises(AttributeError):
        call.name = "other"  # frozen


# ------------------------------------------------------------------------------------------ documented forms


@pytest.mark.parametrize(
    "text, name, arguments, form",
    [
        # Built-in tools (FACTS.md / Meta prompt_format.md), with and without special tokens.
        ('<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>',
         "brave_search", {"query": "Stockholm weather"}, "builtin"),
        ('brave_search.call(query="Stockholm weather")', "brave_search", {"query": "Stockholm weather"}, "builtin"),
        ('  \n<|python_tag|>wolfram_alpha.call(query="integral of x^2 sin x")<|eom_id|>\n',
         "wolfram_alpha", {"query": "integral of x^2 sin x"}, "builtin"),
        ('<|python_tag|>wolfram_alpha.call(query="100th decimal of pi")', "wolfram_alpha",
         {"query": "100th decimal of pi"}, "builtin"),
        # Custom tools, JSON.
        ('{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}',
         "get_weather", {"city": "Paris"}, "json"),
        ('<|python_tag|>{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
         "get_weather", {"city": "Paris"}, "json"),
        ('{"name": "get_weather", "parameters": {"city": "Paris"}}', "get_weather", {"city": "Paris"}, "json"),
        ('{"name": "get_weather", "arguments": {"city": "Paris"}}', "get_weather", {"city": "Paris"}, "json"),
        # Meta's own multi-line example response.
        ('<|python_tag|>{\n    "type": "function",\n    "name": "trending_songs",\n    "parameters": {\n'
         '        "n": "10",\n        "genre": "all"\n    }\n}<|eom_id|>',
         "trending_songs", {"n": "10", "genre": "all"}, "json"),
        # <function=...> tag, closing tag optional.
        ('<function=get_weather>{"city": "Paris"}</function>', "get_weather", {"city": "Paris"}, "function_tag"),
        ('<function=trending_songs>{"n": 10}</function><|eot_id|>', "trending_songs", {"n": 10}, "function_tag"),
        ('<function=get_weather>{"city": "Paris"}', "get_weather", {"city": "Paris"}, "function_tag"),
        # Pythonic list (Llama 3.2+): first call only.
        ("[get_weather(city='Paris'), get_time(zone='CET')]", "get_weather", {"city": "Paris"}, "pythonic"),
        ("get_weather(city='Paris')", "get_weather", {"city": "Paris"}, "pythonic"),
    ],
)
def test_documented_forms_are_read(text, name, arguments, form):
    assert parse_tool_call(text) == ToolCall(name, arguments, form)


def test_code_interpreter_after_python_tag_is_code():
    # Meta's own example (with its missing colon: code need not even compile).
    code = (
        "def is_prime(n):\n    if n <= 1\n        return False\n    for i in range(2, int(n**0.5) + 1):\n"
        "        if n % i == 0:\n            return False\n    return True\n\nprint(is_prime(7))  # Output: True"
    )
    call = parse_tool_call(f"<|python_tag|>{code}<|eom_id|>")
    assert call == ToolCall("code_interpreter", {"code": code}, "code")
    assert parse_tool_call("<|python_tag|>import math\nprint(math.pi)") == ToolCall(
        "code_interpreter", {"code": "import math\nprint(math.pi)"}, "code"
    )
    assert parse_tool_call('<|python_tag|>print("hello")').name == "code_interpreter"


def test_code_without_python_tag_is_not_a_call():
    assert parse_tool_call("import math\nprint(math.pi)") is None
    assert parse_tool_call('print("hello")') is None
    assert parse_tool_call("x = 1") is None


# ------------------------------------------------------------------------------------------ tricky inputs


@pytest.mark.parametrize(
    "text, query",
    [
        ('brave_search.call(query="Ireland\'s capital")', "Ireland's capital"),
        ("brave_search.call(query='Ireland\\'s capital')", "Ireland's capital"),
        ("brave_search.call(query='Stockholm weather')", "Stockholm weather"),
        ('brave_search.call(query="the \\"best\\" pizza")', 'the "best" pizza'),
        ('brave_search.call(query="a (nested) [thing] {x}")', "a (nested) [thing] {x}"),
        ('brave_search.call(query="Zürich Wetter")', "Zürich Wetter"),
        ('brave_search.call("positional query")', "positional query"),
    ],
)
def test_builtin_quotes_escapes_and_apostrophes(text, query):
    call = parse_tool_call(f"<|python_tag|>{text}<|eom_id|>")
    assert call is not None and call.arguments == {"query": query}


def test_special_tokens_in_odd_places():
    # Text after the end token is ignored; a tag after some prose still marks the call.
    assert parse_tool_call('brave_search.call(query="x")<|eom_id|>leftover') == ToolCall(
        "brave_search", {"query": "x"}, "builtin")
    assert parse_tool_call("Let me check.<|python_tag|>import math\nprint(math.e)<|eom_id|>") == ToolCall(
        "code_interpreter", {"code": "import math\nprint(math.e)"}, "code")
    # A token inside a string value is part of the value.
    assert parse_tool_call('<|python_tag|>f(x="<|eot_id|>")<|eom_id|>').arguments == {"x": "<|eot_id|>"}
    assert parse_tool_call(
        "<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>brave_search.call(query=\"x\")<|eom_id|>"
    ).name == "brave_search"


def test_builtin_call_inside_prose_is_found():
    call = parse_tool_call("Let me look that up. brave_search.call(query=\"Ireland's capital\")")
    assert call == ToolCall("brave_search", {"query": "Ireland's capital"}, "builtin")


def test_nested_json_arguments():
    text = '{"name": "book", "parameters": {"trip": {"from": "OSL", "legs": [{"to": "CDG"}, {"to": "FCO"}]}}}'
    assert parse_tool_call(text).arguments == {"trip": {"from": "OSL", "legs": [{"to": "CDG"}, {"to": "FCO"}]}}


def test_json_arguments_given_as_a_json_string():
    text = json.dumps({"name": "get_weather", "arguments": json.dumps({"city": "Paris", "days": {"n": 2}})})
    assert parse_tool_call(text) == ToolCall("get_weather", {"city": "Paris", "days": {"n": 2}}, "json")
    assert parse_tool_call('{"name": "now", "arguments": ""}') == ToolCall("now", {}, "json")
    assert parse_tool_call('{"name": "f", "arguments": "not json"}') is None


def test_json_strings_with_braces_quotes_and_apostrophes():
    args = {"q": 'he said "hi" {not a brace} it\'s fine \\ done'}
    text = "<|python_tag|>" + json.dumps({"type": "function", "name": "search", "parameters": args})
    assert parse_tool_call(text) == ToolCall("search", args, "json")


def test_json_inside_prose():
    text = 'Sure! {"name": "get_weather", "parameters": {"city": "Paris"}} Let me check.'
    assert parse_tool_call(text) == ToolCall("get_weather", {"city": "Paris"}, "json")
    text = 'A {broken one, then {"name": "get_time", "parameters": {"zone": "CET"}}'
    assert parse_tool_call(text) == ToolCall("get_time", {"zone": "CET"}, "json")


def test_openai_style_function_object():
    text = '{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}'
    assert parse_tool_call(text) == ToolCall("get_weather", {"city": "Paris"}, "json")


def test_json_data_that_is_not_a_call_is_ignored():
    assert parse_tool_call('The city is {"name": "Paris", "population": 2102650}.') is None
    # An object that is not a call is skipped whole: its inner "name" is not taken for a call.
    assert parse_tool_call('{"result": {"name": "Bob", "parameters": {}}}') is None


def test_unknown_tool_names_are_returned():
    assert parse_tool_call('{"name": "launch_rockets", "parameters": {"n": 3}}').name == "launch_rockets"
    assert parse_tool_call('<|python_tag|>photo_magic.call(query="cat")').name == "photo_magic"


def test_names_must_be_identifiers():
    assert parse_tool_call('{"name": "rm -rf /", "parameters": {}}') is None
    assert parse_tool_call('{"name": "", "parameters": {}}') is None
    assert parse_tool_call('{"name": 42, "parameters": {}}') is None


def test_pythonic_values_must_be_literals():
    assert parse_tool_call("[f(x=os.system('rm -rf /'))]") is None
    assert parse_tool_call("f(x=os.system('rm'))") is None
    assert parse_tool_call("[f(x=__import__('os'))]") is None
    assert parse_tool_call('brave_search.call(query=open("/etc/passwd").read())') is None
    assert parse_tool_call("[f(**kwargs)]") is None
    assert parse_tool_call("[f(x={1, 2})]") is None  # sets are not JSON
    assert parse_tool_call("[f(x=(1, 'a'), y=-2.5, z=None, w=[True])]") == ToolCall(
        "f", {"x": [1, "a"], "y": -2.5, "z": None, "w": [True]}, "pythonic"
    )


def test_non_literal_call_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for text in (
        f"[f(x=os.system('touch {marker}'))]",
        f"f(x=__import__('os').system('touch {marker}'))",
        f"<|python_tag|>__import__('os').system('touch {marker}')",
        f'brave_search.call(query=__import__("os").system("touch {marker}"))',
        f"<function=f>{{'a': __import__('os').system('touch {marker}')}}</function>",
    ):
        call = parse_tool_call(text)
        assert call is None or call.form == "code"  # code is only *returned*, as text
    assert not marker.exists()


def test_bare_call_only_when_it_is_the_whole_text():
    assert parse_tool_call("You can use print(x) for that.") is None
    assert parse_tool_call("use get_weather(city='Paris')") is None
    assert parse_tool_call("print(x)") is None  # positional argument: code, not a tool call


@pytest.mark.parametrize(
    "text",
    [
        "", "   \n", "The weather in Stockholm is 4 °C and cloudy.", "Hello!", "[1, 2, 3]", "{}", "{oops",
        "<|eot_id|>", "<|python_tag|>", "<|python_tag|>   <|eom_id|>", "I'm not sure what you mean.",
        "<function=>{}</function>", "brave_search.call(query=", "[get_weather(city='Paris'",
        "Sure.\n\n1. First\n2. Second",
    ],
)
def test_prose_empty_and_malformed_are_not_calls(text):
    assert parse_tool_call(text) is None


def test_non_string_input_is_not_a_call():
    assert parse_tool_call(None) is None  # type: ignore[arg-type]
    assert parse_tool_call(b'{"name": "x"}') is None  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ robustness


_FRAGMENTS = [
    "<|python_tag|>", "<|eom_id|>", "<|eot_id|>", "<function=", "<function=f>", "</function>", "{", "}", "[", "]",
    "(", ")", '"name"', '"parameters"', '"arguments"', ":", ",", ".call(", "query=", "brave_search", "f", "=",
    "\\", '"', "'", '"""', "\n", " ", "os.system('touch x')", "__import__", "1e999", "-", "0x", "\x00", "é",
    '{"name": "f", "parameters": ', "[f(", "lambda: 0", "*", "**", "#", "\ufeff", "\r",
]

_adversarial = st.one_of(
    st.text(),
    st.lists(st.sampled_from(_FRAGMENTS), max_size=60).map("".join),
    st.builds(lambda n, s: s * n, st.integers(1, 5000), st.sampled_from(["[", "(", "{", '{"a":', "[f(x=", '"\\']))
    .map(lambda s: s[:25_000]),
    st.builds(lambda pre, s: pre + s, st.sampled_from(["", "<|python_tag|>", "[", "{"]),
              st.sampled_from(["[" * 5000, "(" * 5000, "{" * 5000, '{"a":' * 3000, "-" * 20000 + "1"])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_adversarial)
def test_parse_never_raises_and_returns_a_call_or_none(text):
    result = parse_tool_call(text)
    assert result is None or (isinstance(result, ToolCall) and result.name.isidentifier()
                              and isinstance(result.arguments, dict))
    calls = parse_tool_calls(text)
    assert isinstance(calls, list) and len(calls) <= MAX_CALLS
    assert all(isinstance(c, ToolCall) and c.name.isidentifier() and isinstance(c.arguments, dict) for c in calls)
    assert calls[:1] == ([] if result is None else [result]), "the first of all calls is parse_tool_call's"
    assert isinstance(may_be_tool_call(text), bool)
    assert isinstance(strip_special_tokens(text), str)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join))
@example("[f(x=1, y='a')]")
@example('<|python_tag|>brave_search.call(query="x")<|eom_id|>')
@example("<function=f>{'a': 1}</function>")
@example("f(x=__import__('os').getcwd())")
def test_parser_never_compiles_code_for_execution(text):
    # ast.parse compiles to an AST only; anything else (eval/exec/real bytecode) would be execution.
    real_compile = builtins.compile
    calls = []

    def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
        import ast as _ast

        calls.append(bool(flags & _ast.PyCF_ONLY_AST))
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def refuse(*_a, **_k):
        raise AssertionError("model output was evaluated")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "compile", guarded_compile)
        mp.setattr(builtins, "eval", refuse)
        mp.setattr(builtins, "exec", refuse)
        parse_tool_call(text)
        parse_tool_calls(text)
    assert all(calls)


def test_huge_adversarial_input_is_fast():
    inputs = [
        "[" * 100_000,
        "{" * 100_000,
        '{"name": "f", "parameters": ' * 4000,
        "brave_search.call(" * 5000,
        "x" * 100_000,
        "<|python_tag|>" + "(" * 40_000,
        "<|python_tag|>" + '{"a": "' * 6000,
        '{"' * 20_000,
        "brave_search.call(query='" + "a" * 45_000,
        "Sure! " + "{ " * 20_000,
    ]
    inputs += [
        "[" + ", ".join(f"f{i}(a={i})" for i in range(1500)) + "]",  # just under the size cap
        "[" + "f(a=1), " * 7000 + "]",
        "[" + "f(a=1), " * 7000,
        "[f(a=" + "[" * 3000 + "]" * 3000 + ")]",
    ]
    for text in inputs:
        start = time.perf_counter()
        parse_tool_call(text)
        parse_tool_calls(text)
        may_be_tool_call(text)
        assert time.perf_counter() - start < 1.0, text[:40]


def test_deep_nesting_under_the_size_cap_does_not_crash():
    assert parse_tool_call("[" * 5000) is None
    assert parse_tool_calls("[" * 5000) == []
    assert parse_tool_call('{"name": "f", "parameters": ' + '{"a": ' * 3000 + "1" + "}" * 3001) is None


# ------------------------------------------------------------------------------------------ several calls (Llama 4)

SEOUL = '[get_weather(city="Seoul"), get_local_time(city_or_timezone="Seoul")]'
SEOUL_CALLS = [ToolCall("get_weather", {"city": "Seoul"}, "pythonic"),
               ToolCall("get_local_time", {"city_or_timezone": "Seoul"}, "pythonic")]


@pytest.mark.parametrize("text", [
    SEOUL,
    f"<|python_tag|>{SEOUL}<|eom_id|>",
    f"  {SEOUL}<|eot_id|>\n",
    f"<|start_header_id|>assistant<|end_header_id|>\n\n{SEOUL}<|eot_id|>",
    '[get_weather(city="Seoul"),\n get_local_time(city_or_timezone="Seoul"),\n]',
    "[get_weather(city='Seoul'), get_local_time(city_or_timezone='Seoul')]",
])
def test_every_call_of_a_pythonic_list_is_read_in_order(text):
    assert parse_tool_calls(text) == SEOUL_CALLS
    assert parse_tool_call(text) == SEOUL_CALLS[0], "parse_tool_call still gives the first call only"


def test_several_calls_keep_literal_arguments_and_repeats():
    text = "[f(a=[1, {'k': None}], b=-2.5), f(a=[1, {'k': None}], b=-2.5), g(), h(s='x, y)]')]"
    assert parse_tool_calls(text) == [ToolCall("f", {"a": [1, {"k": None}], "b": -2.5}, "pythonic"),
                                      ToolCall("f", {"a": [1, {"k": None}], "b": -2.5}, "pythonic"),
                                      ToolCall("g", {}, "pythonic"), ToolCall("h", {"s": "x, y)]"}, "pythonic")]


@pytest.mark.parametrize("text", [
    '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>',
    '{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}',
    '[{"name": "get_weather", "parameters": {"city": "Paris"}}, {"name": "get_time", "parameters": {}}]',
    '<function=get_weather>{"city": "Paris"}</function>',
    "get_weather(city='Paris')",
    "[get_weather(city='Paris')]",
    "<|python_tag|>import math\nprint(math.pi)",
    "Let me look that up. brave_search.call(query=\"Ireland's capital\")",
])
def test_every_other_form_is_a_one_element_list(text):
    assert parse_tool_calls(text) == [parse_tool_call(text)]


@pytest.mark.parametrize("text", ["", "The weather in Seoul is 4 °C.", "[1, 2, 3]", "[]", "[get_weather(city='Seoul'",
                                  None, b"[f(a=1)]"])
def test_prose_and_malformed_are_no_calls(text):
    assert parse_tool_calls(text) == []


def test_a_long_list_is_cut_to_max_calls():
    text = "[" + ", ".join(f"tool_{i}(n={i})" for i in range(50)) + "]"
    calls = parse_tool_calls(text)
    assert len(calls) == MAX_CALLS == 8
    assert [c.arguments["n"] for c in calls] == list(range(MAX_CALLS))


@pytest.mark.parametrize("text, names", [
    ("[__import__('os').system('x')]", []),
    ("[get_weather(city='Seoul'), __import__('os').system('x')]", []),  # not every element is name(...)
    ("[os.system(cmd='x')]", []),
    ("[get_weather(city='Seoul'), os.system(cmd='x')]", []),
    ("[f.call(query='x'), g(a=1)]", ["f"]),  # not a list of calls; a built-in call inside text, as today
    ("[f(x=g(y=1)), h(a=1)]", []),  # a nested call as an argument: the list stops before it
    ("[h(a=1), f(x=g(y=1))]", ["h"]),
    ("[h(a=1), f(x=__import__('os').system('x')), g(b=2)]", ["h"]),
    ("[f(**{'a': 1})]", []),
    ("[h(a=1), f(**kwargs), g(b=2)]", ["h"]),
    ("[h(a=1), f(*args)]", ["h"]),
    ("[f(x=lambda: 0)]", []),
    ("[h(a=1), f(x=lambda: __import__('os'))]", ["h"]),
    ("[h(a=1), f(x=x)]", ["h"]),  # a name is not a literal
    ("[f(1), g(a=1)]", []),  # positional arguments: not a tool call
    ("[h(a=1), f(x={1, 2})]", ["h"]),  # sets are not JSON
    ("[h(a=1), f(x=b'bytes')]", ["h"]),
    ("[h(a=1), f(x=1j)]", ["h"]),
    ("[h(a=1), f(x=f'{__import__(\"os\")}')]", ["h"]),
    ("[h(a=1), f(x=(y := 1))]", ["h"]),
    ("[h(a=1), f(x=[i for i in range(9)])]", ["h"]),
    ("[h(a=1), f(x=().__class__)]", ["h"]),
    ("[f(a=i) for i in range(3)]", []),
    ("[*g(a=1)]", []),
    ("[f[0](a=1)]", []),
    ("[f(a=1)][0]", []),
    ("[f(a=1)] + [g(b=2)]", []),
    ("[f(a=1), g(b=2)]; import os", []),
    ("[f(a=" + "[" * 3000 + "]" * 3000 + ")]", []),  # nested too deep for the parser: no call
    ("[f(a=" + "(" * 5000 + ")]", []),
])
def test_hostile_lists_give_no_call_or_only_literal_calls(text, names):
    calls = parse_tool_calls(text)
    assert [c.name for c in calls] == names
    assert all(c.form in ("pythonic", "builtin") for c in calls)
    assert all(json.loads(json.dumps(c.arguments)) == c.arguments for c in calls), "JSON-like literals only"


def test_a_dunder_name_is_only_a_name():
    # Nothing is looked up or called: the tool loop refuses a name that is not an enabled tool.
    assert parse_tool_calls("[__import__(name='os'), eval(source='1')]") == [
        ToolCall("__import__", {"name": "os"}, "pythonic"), ToolCall("eval", {"source": "1"}, "pythonic")]


def test_several_calls_execute_nothing(tmp_path):
    marker = tmp_path / "pwned"
    touch = f"__import__('os').system('touch {marker}')"
    for text in (
        f"[{touch}]",
        f"[get_weather(city='Seoul'), {touch}]",
        f"[get_weather(city={touch}), get_local_time(city_or_timezone='Seoul')]",
        f"[get_weather(city='Seoul'), get_local_time(city_or_timezone={touch})]",
        f"[get_weather(city='Seoul'), f(x=lambda: {touch})]",
        f"[get_weather(city='Seoul'), f(**{{'x': {touch}}})]",
        f"<|python_tag|>[get_weather(city='Seoul'), f(x={touch})]<|eom_id|>",
    ):
        for call in parse_tool_calls(text):
            assert call.form == "pythonic" and "__import__" not in json.dumps(call.arguments)
    assert not marker.exists()


_LITERAL_ELEMENTS = {
    "get_weather(city='Seoul')": ToolCall("get_weather", {"city": "Seoul"}, "pythonic"),
    "g()": ToolCall("g", {}, "pythonic"),
    "f(a=[1, {'b': None}])": ToolCall("f", {"a": [1, {"b": None}]}, "pythonic"),
}
_NAME_CALLS_NOT_LITERAL = ["f(x=g(y=1))", "f(**kw)", "f(*a)", "f(x=lambda: 0)", "f(x=x)", "f(1)", "f(x={1})",
                           "f(x=__import__('os'))"]
_NOT_NAME_CALLS = ["__import__('os').system('x')", "os.system(cmd='x')", "[f(a=1)]", "f(a=1).call(q='x')"]
_TOO_DEEP = "f(x=" + "[" * 200 + "]" * 200 + ")"  # past Python's nesting limit inside the list: a SyntaxError


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*_LITERAL_ELEMENTS, *_NAME_CALLS_NOT_LITERAL, *_NOT_NAME_CALLS, _TOO_DEEP]),
                max_size=12),
       st.sampled_from(["", "<|python_tag|>"]), st.sampled_from(["", "<|eom_id|>", "<|eot_id|>"]))
def test_lists_mixing_literal_and_hostile_calls(elements, tag, end):
    body = f"[{', '.join(elements)}]"
    real_compile = builtins.compile

    def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
        import ast as _ast

        assert flags & _ast.PyCF_ONLY_AST, "model output was compiled for execution"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "compile", guarded_compile)
        calls = parse_tool_calls(tag + body + end)
    leading = []  # the literal calls before the first that is not one
    for e in elements[:MAX_CALLS]:
        if e not in _LITERAL_ELEMENTS:
            break
        leading.append(_LITERAL_ELEMENTS[e])
    a_list_of_calls = not any(e in _NOT_NAME_CALLS or e == _TOO_DEEP for e in elements)
    if a_list_of_calls and leading:
        assert calls == leading
    elif tag:
        assert calls == [ToolCall("code_interpreter", {"code": body}, "code")]  # only returned as text, never run
    else:
        assert calls == []


# ------------------------------------------------------------------------------------------ system prompt


def test_system_prompt_matches_meta_format_exactly():
    assert build_system_prompt(["brave_search", "wolfram_alpha"], datetime.date(2026, 11, 26)) == (
        "Environment: ipython\nTools: brave_search, wolfram_alpha\nCutting Knowledge Date: December 2023\n"
        "Today Date: 26 November 2026\n\nYou are a helpful assistant."
    )


def test_code_interpreter_only_switches_on_ipython():
    assert build_system_prompt(["code_interpreter", "brave_search"], datetime.date(2024, 7, 23)) == (
        "Environment: ipython\nTools: brave_search\nCutting Knowledge Date: December 2023\n"
        "Today Date: 23 July 2024\n\nYou are a helpful assistant."
    )
    assert build_system_prompt(["code_interpreter"], datetime.date(2024, 7, 23)) == (
        "Environment: ipython\nCutting Knowledge Date: December 2023\n"
        "Today Date: 23 July 2024\n\nYou are a helpful assistant."
    )


def test_no_builtin_tools_means_no_environment_line():
    assert build_system_prompt([], datetime.date(2024, 7, 5), "Answer briefly.") == (
        "Cutting Knowledge Date: December 2023\nToday Date: 05 July 2024\n\nAnswer briefly."
    )
    assert KNOWLEDGE_CUTOFF == "December 2023"


def test_day_is_zero_padded_like_meta_strftime():
    # Meta renders strftime("%d %B %Y"); English month names whatever the machine's locale.
    assert "Today Date: 01 January 2025\n" in build_system_prompt([], datetime.date(2025, 1, 1))
    assert "Today Date: 09 September 2024\n" in build_system_prompt([], datetime.datetime(2024, 9, 9, 23, 59))


# ------------------------------------------------------------------------------------------ custom tools


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_custom_tools_message_lists_definitions_and_question():
    text = custom_tools_message([WEATHER_TOOL], "What's the weather in Paris?")
    assert text.startswith(
        "Answer the user's question by making use of the following functions if needed.\n"
        "If none of the function can be used, please say so.\n"
        "Here is a list of functions in JSON format:\n"
    )
    assert json.dumps(WEATHER_TOOL, indent=4) in text
    assert text.index("Return function calls in JSON format.") > text.index('"get_weather"')
    assert text.endswith("Question: What's the weather in Paris?")


def test_custom_tools_message_with_several_tools_and_none():
    other = {"type": "function", "function": {"name": "get_time", "description": "Time", "parameters": {}}}
    text = custom_tools_message([WEATHER_TOOL, other], "Q?")
    assert text.index('"get_weather"') < text.index('"get_time"')
    assert custom_tools_message([], "Just a question?") == "Just a question?"


# ------------------------------------------------------------------------------------------ call_text


@pytest.mark.parametrize(
    "call, text",
    [
        (ToolCall("brave_search", {"query": "Stockholm weather"}, "builtin"),
         'brave_search.call(query="Stockholm weather")'),
        (ToolCall("brave_search", {"query": 'say "hi"'}, "builtin"), 'brave_search.call(query="say \\"hi\\"")'),
        (ToolCall("get_weather", {"city": "Paris"}, "json"), '{"name": "get_weather", "parameters": {"city": "Paris"}}'),
        (ToolCall("code_interpreter", {"code": "print(1)"}, "code"), "print(1)"),
    ],
)
def test_call_text_is_canonical_and_token_free(call, text):
    assert call_text(call) == text
    assert "<|" not in call_text(call)


def test_call_text_falls_back_to_json_when_python_cannot_spell_it():
    call = ToolCall("book_flight", {"from": "OSL", "to": "CDG"}, "pythonic")
    text = call_text(call)
    assert json.loads(text) == {"name": "book_flight", "parameters": {"from": "OSL", "to": "CDG"}}
    assert parse_tool_call(text) == ToolCall("book_flight", {"from": "OSL", "to": "CDG"}, "json")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda s: s.isidentifier() and not keyword.iskeyword(s))


@settings(max_examples=150, deadline=None)
@given(_names, st.dictionaries(_names, _json_values, max_size=4),
       st.sampled_from(["builtin", "json", "function_tag", "pythonic"]))
def test_call_text_round_trips_through_the_parser(name, arguments, form):
    call = ToolCall(name, arguments, form)
    assert parse_tool_call(call_text(call)) == call
    assert parse_tool_call("<|python_tag|>" + call_text(call) + "<|eom_id|>") == call


def test_calls_text_writes_one_reply_once():
    assert calls_text(SEOUL_CALLS) == SEOUL
    assert calls_text(SEOUL_CALLS[:1]) == call_text(SEOUL_CALLS[0]) == '[get_weather(city="Seoul")]'
    mixed = [ToolCall("get_weather", {"city": "Seoul"}, "json"), ToolCall("book", {"from": "OSL"}, "pythonic")]
    assert json.loads(calls_text(mixed)) == [{"name": "get_weather", "parameters": {"city": "Seoul"}},
                                             {"name": "book", "parameters": {"from": "OSL"}}]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_names, st.dictionaries(_names, _json_values, max_size=3)), min_size=1, max_size=MAX_CALLS))
def test_calls_text_round_trips_through_parse_tool_calls(pairs):
    calls = [ToolCall(name, arguments, "pythonic") for name, arguments in pairs]
    assert parse_tool_calls(calls_text(calls)) == calls
    assert parse_tool_calls("<|python_tag|>" + calls_text(calls) + "<|eom_id|>") == calls


# ------------------------------------------------------------------------------------------ raw prompt


def test_render_full_tool_turn_in_order():
    messages = [
        {"role": "system", "content": build_system_prompt(["brave_search"], datetime.date(2024, 7, 23))},
        {"role": "user", "content": "Weather in Stockholm?"},
        {"role": "assistant", "content": 'brave_search.call(query="Stockholm weather")'},
        {"role": "tool", "content": "4 °C, cloudy"},
        {"role": "assistant", "content": "It is 4 °C and cloudy."},
    ]
    raw = render_raw_prompt(messages)
    expected_in_order = [
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search\n",
        "You are a helpful assistant.<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>\n\nWeather in Stockholm?<|eot_id|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
        '<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>',
        "<|start_header_id|>ipython<|end_header_id|>\n\n4 °C, cloudy<|eot_id|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\nIt is 4 °C and cloudy.<|eot_id|>",
    ]
    pos = 0
    for piece in expected_in_order:
        found = raw.find(piece, pos)
        assert found >= 0, piece
        pos = found + len(piece)
    assert raw.endswith("It is 4 °C and cloudy.<|eot_id|>")  # last is the assistant's: no open header


def test_render_open_assistant_header_and_images():
    raw = render_raw_prompt([
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAA"}},
                                     {"type": "text", "text": "What is this?"}]},
    ])
    assert raw == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What is this?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert "base64" not in raw


def test_render_tool_call_variants():
    # Model's raw call with tokens is not doubled; a flagged call and a structured tool_calls entry render too.
    raw = render_raw_prompt([{"role": "assistant", "content": '<|python_tag|>wolfram_alpha.call(query="2+2")<|eom_id|>'}])
    assert raw.count("<|python_tag|>") == 1 and raw.count("<|eom_id|>") == 1
    raw = render_raw_prompt([{"role": "assistant", "content": "x = 1\nprint(x)", "tool_call": True}])
    assert "<|python_tag|>x = 1\nprint(x)<|eom_id|>" in raw
    raw = render_raw_prompt([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}])
    assert '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>' in raw
    raw = render_raw_prompt([{"role": "assistant", "content": '<function=f>{"a": 1}</function>'}])
    assert '\n\n<function=f>{"a": 1}</function><|eot_id|>' in raw  # Meta: no python tag for this form
    raw = render_raw_prompt([{"role": "assistant", "content": "Just words."}])
    assert "<|python_tag|>" not in raw and "Just words.<|eot_id|>" in raw


def test_render_several_calls_of_one_reply():
    raw = render_raw_prompt([{"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'}},
        {"id": "c2", "type": "function",
         "function": {"name": "get_local_time", "arguments": '{"city_or_timezone": "Seoul"}'}}]}])
    assert ('<|python_tag|>[{"name": "get_weather", "parameters": {"city": "Seoul"}}, {"name": "get_local_time", '
            '"parameters": {"city_or_timezone": "Seoul"}}]<|eom_id|>') in raw
    raw = render_raw_prompt([{"role": "assistant", "content": SEOUL}])
    assert f"<|python_tag|>{SEOUL}<|eom_id|>" in raw


# ------------------------------------------------------------------------------------------ streaming helpers


def test_strip_special_tokens():
    assert strip_special_tokens('<|python_tag|>brave_search.call(query="x")<|eom_id|>') == 'brave_search.call(query="x")'
    assert strip_special_tokens("<|start_header_id|>assistant<|end_header_id|>\n\nHi<|eot_id|>") == "Hi"
    assert strip_special_tokens("a <b>|</b> c") == "a <b>|</b> c"


@pytest.mark.parametrize(
    "prefix",
    ["", "  ", "<", "<|py", "<|python_tag|>", "<|python_tag|>import os", "<func", "<function=get_w", "{", ' {"na',
     "[", "[get_wea", "[get_weather(city='Par", "brave_se", "brave_search.", "brave_search.call(",
     'brave_search.call(query="Stockholm weather', 'brave_search.call(query="a b")<|eom_id|>', "get_weather(city="],
)
def test_may_be_tool_call_while_ambiguous(prefix):
    assert may_be_tool_call(prefix) is True


@pytest.mark.parametrize(
    "prefix",
    ["The weather", "The weather in Stockholm is", "I'm", "Sure. Here", "Hello!", "<b>bold", "{ not json",
     "[1] Source", "a" * 41, 'brave_search.call(query="a") then I will', "print(x) prints x"],
)
def test_may_be_tool_call_false_once_clearly_prose(prefix):
    assert may_be_tool_call(prefix) is False


def test_may_be_tool_call_agrees_with_parser_on_every_prefix_of_a_call():
    for full in ('<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>',
                 '{"name": "get_weather", "parameters": {"city": "Paris"}}',
                 "[get_weather(city='Paris'), get_time(zone='CET')]",
                 '<function=get_weather>{"city": "Paris"}</function>'):
        assert parse_tool_call(full) is not None
        assert all(may_be_tool_call(full[:i]) for i in range(len(full) + 1)), full
