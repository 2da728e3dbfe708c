"""The restricted environment that runs every BPMN script and expression.

Models are uploaded by people, so their Python must not reach the server: scripts are compiled
with RestrictedPython (no imports, no names or attributes that start with `_`, no `exec`,
`eval`, `open` or other escapes) and run with a small allow-list of builtins plus the contract's
functions. Each evaluation has a time budget (counted over the lines it runs) and size guards on
the operations that can allocate a lot in one step (`*`, `**`, `<<`, `range`). A violation is an
error of the script, which SpiffWorkflow turns into an incident naming the element; the server
carries on. Deployment refuses code that fails to compile under these rules.

RestrictedPython is defence in depth, not a guarantee (notes/spiffworkflow.md §6): uploading
models stays a privileged action, and workers should run with no more secrets than they need.
"""

from __future__ import annotations

import ast
import copy
import datetime
import math
import operator
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from types import CodeType, FrameType
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
)
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment

#: Wall-clock budget of one evaluation, in seconds.
TIME_LIMIT = 2.0
#: Largest sequence or string that one `*`, `range` or similar step may make.
MAX_ITEMS = 10_000_000
#: Largest integer (in bits) that `**` or `<<` may make.
MAX_INT_BITS = 100_000
#: The file name compiled code carries, so the time guard traces only model code.
FILENAME = "<bpmn-script>"


class ScriptLimitExceeded(RuntimeError):
    """Raised when a script runs too long or would build something too large."""


def _check_size(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_ITEMS:
        raise ScriptLimitExceeded(f"result too large ({len(value)} items)")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ScriptLimitExceeded("integer too large")
    return value


def _guarded_binop(op: str, left: Any, right: Any) -> Any:
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int) \
                    and len(seq) * times > MAX_ITEMS:
                raise ScriptLimitExceeded("result too large")
        return _check_size(left * right)
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 \
                and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise ScriptLimitExceeded("integer too large")
        return left ** right
    if op == "<<":
        if isinstance(right, int) and right > MAX_INT_BITS:
            raise ScriptLimitExceeded("integer too large")
        return left << right
    raise ValueError(op)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.add, "-=": operator.sub, "/=": operator.truediv, "//=": operator.floordiv,
    "%=": operator.mod, "&=": operator.and_, "|=": operator.or_, "^=": operator.xor,
    ">>=": operator.rshift, "@=": operator.matmul,
}


def _inplacevar(op: str, left: Any, right: Any) -> Any:
    if op in ("*=", "**=", "<<="):
        return _guarded_binop(op[:-1], left, right)
    return _check_size(_INPLACE[op](left, right))


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise ScriptLimitExceeded(f"range too large ({len(r)} items)")
    return r


#: Builtins that model code may never name (RestrictedPython alone refuses only some).
FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "getattr", "setattr", "delattr", "input",
    "breakpoint", "exit", "quit", "help", "memoryview", "super", "classmethod", "staticmethod",
    "property", "dir", "locals",
})


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's rules, no imports, no dangerous builtins, and size guards on `*`,
    `**` and `<<`."""

    def visit_Import(self, node: ast.Import) -> Any:
        self.error(node, "import is not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.error(node, "import is not allowed")
        return node

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in FORBIDDEN_NAMES:
            self.error(node, f"the name {node.id!r} is not allowed")
            return node
        return super().visit_Name(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        symbol = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<"}.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(func=ast.Name("_guarded_binop_", ast.Load()),
                        args=[ast.Constant(symbol), node.left, node.right], keywords=[])
        for new in (call, call.func, call.args[0]):
            ast.copy_location(new, node)
        return call


_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset",
    "int", "isinstance", "len", "list", "map", "max", "min", "reversed", "round", "set",
    "sorted", "str", "sum", "tuple", "zip", "chr", "ord", "hex", "repr", "slice",
    "ArithmeticError", "AssertionError", "Exception", "IndexError", "KeyError", "LookupError",
    "TypeError", "ValueError", "ZeroDivisionError", "None", "True", "False",
)
_BUILTINS: dict[str, Any] = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in _BUILTIN_NAMES
}
_BUILTINS["range"] = _range
# Date types for arithmetic on values scripts already hold; "now" comes from the platform
# clock (`now()`, `today()`), so the types' own clock readers are not the way to it.
_BUILTINS.update(date=datetime.date, datetime=datetime.datetime, timedelta=datetime.timedelta)


def _guards() -> dict[str, Any]:
    return {
        # A copy each time: model code must not change the builtins of the next evaluation.
        "__builtins__": dict(_BUILTINS),
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_guarded_binop_": _guarded_binop,
        "_print_": PrintCollector,
        "_apply_": lambda f, *a, **kw: f(*a, **kw),
        "__name__": "bpmn_script",
        "__metaclass__": type,
    }


@lru_cache(maxsize=4096)
def compile_code(source: str, mode: str) -> CodeType:
    """Compile model code under the sandbox's rules (cached); raises `SyntaxError`."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=FILENAME, policy=_Policy)
    if result.errors or result.code is None:
        # RestrictedPython's SyntaxErrors carry no line number, which SpiffWorkflow's error
        # formatter cannot handle: give one.
        raise SyntaxError("; ".join(result.errors) or "cannot compile", (FILENAME, 1, 0, source))
    return result.code


def problems(source: str, mode: str) -> list[str]:
    """What keeps `source` from running in the sandbox (empty when it compiles)."""
    try:
        compile_code(source, mode)
    except SyntaxError as exc:
        return [str(exc.msg)]
    return []


class _TimeGuard:
    """Raises `ScriptLimitExceeded` inside model code that runs past its deadline."""

    def __init__(self, limit: float) -> None:
        self.deadline = time.monotonic() + limit
        self.lines = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != FILENAME:
            return None
        return self._line

    def _line(self, frame: FrameType, event: str, arg: Any) -> Any:
        self.lines += 1
        if self.lines % 256 == 0 and time.monotonic() > self.deadline:
            raise ScriptLimitExceeded(f"script ran longer than {TIME_LIMIT} s")
        return self._line


def _data_view(scope: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """`globals()` / `vars()` for model code: a copy of the variables, without the machinery."""
    def view() -> dict[str, Any]:
        return {k: v for k, v in scope.items()
                if not k.startswith("_") and not callable(v) and k != "printed"}
    return view


def _run(code: CodeType, scope: dict[str, Any]) -> Any:
    previous = sys.gettrace()
    sys.settrace(_TimeGuard(TIME_LIMIT))
    try:
        return eval(code, scope)  # noqa: S307 - restricted code object, guarded scope
    finally:
        sys.settrace(previous)


class SandboxEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment, running code in the sandbox."""

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        scope = {**self.globals, **(external_context or {}), **context, **_guards()}
        scope["__builtins__"]["globals"] = scope["__builtins__"]["vars"] = _data_view(scope)
        return _run(compile_code(expression, "eval"), scope)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = compile_code(script, "exec")
        context.update(copy.copy(self.globals))
        context.update(external_context or {})
        context.update(_guards())
        context["__builtins__"]["globals"] = context["__builtins__"]["vars"] = _data_view(context)
        try:
            _run(code, context)
        finally:
            for name in list(_guards()) + ["_print"]:
                context.pop(name, None)
            self._remove_globals_and_functions_from_context(context, external_context)
        return True
