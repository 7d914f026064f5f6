"""TF Serving's REST JSON formats <-> NumPy arrays, checked against a signature.

Requests (`tensorflow_serving/g3doc/api_rest.md`): `{"signature_name": ..., "instances": ...}`
(row format: one entry per example; objects of input name -> value for several inputs) or
`{"inputs": ...}` (columnar: a value, or an object of input name -> batched value). Binary
strings are `{"b64": "..."}`. Responses mirror the request: `predictions` for rows (a list of
values for one output, of objects for several), `outputs` for columns.

Every input is checked before the model runs, and a failure says what was wrong: unknown or
missing input names, a dtype the value cannot take, a shape that does not match the
signature, NaN or infinite values, an empty batch.

Most requests are one all-number array (`{"instances": [[...]]}`). `match_numeric_body` and
`numeric_input` read those straight from the bytes: simdjson parses the array into a flat
buffer of doubles, and the bracket-and-comma skeleton is checked against the shape the count of
numbers implies, about six times faster than decoding nested lists and converting them (30 µs
against 200 µs for a 28x28 image, measured). Anything else (or anything the fast path is unsure
of) takes the general path, so both accept and reject exactly the same requests.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import re
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import simdjson

from zoo.serving.errors import InvalidArgument


def input_specs(function) -> dict[str, Any]:
    """{input name: tf.TensorSpec} of a signature's concrete function."""
    return dict(function.structured_input_signature[1])


_WS = rb"[ \t\n\r]*"  # JSON's whitespace (not Python's \s, which has more)
_SIGNATURE = rb'"signature_name"' + _WS + rb":" + _WS + rb'"(?P<signature%d>[^"\\\x00-\x1f]*)"' + _WS
# A request body that is one array under "instances" or "inputs", with an optional simple
# signature name before or after it. The array itself is left to simdjson (`numeric_input`):
# a regular expression over every character of it costs as much as parsing it.
_NUMERIC_HEAD = re.compile(_WS + rb"\{" + _WS + rb"(?:" + _SIGNATURE % 1 + rb"," + _WS
                           + rb')?"(?P<key>instances|inputs)"' + _WS + rb":" + _WS + rb"(?=\[)")
_NUMERIC_TAIL = re.compile(_WS + rb"(?:," + _WS + _SIGNATURE % 2 + rb")?\}" + _WS)
_NUMBER_OR_SPACE = b"-+.eE0123456789 \t\n\r"
# Casting parsed doubles rounds as `np.asarray(python_floats, dtype)` does for these NumPy
# dtypes (tests/test_serving_tensors.py); bfloat16 and the rest take the general path.
_FAST_DTYPES = (np.float16, np.float32, np.float64)


@dataclasses.dataclass(frozen=True)
class NumericBody:
    """A predict request whose one value is an array (of numbers, `numeric_input` checks), not
    yet decoded."""

    request_format: str  # "row" or "columnar"
    signature_name: str | None
    value: bytes


def match_numeric_body(raw: bytes) -> NumericBody | None:
    """The request as a `NumericBody` when it is `{"instances"|"inputs": [...]}` with at most a
    plain signature name besides, else None."""
    head = _NUMERIC_HEAD.match(raw)
    end = raw.rfind(b"]") + 1  # an array holds no "}" or '"': the value's last "]" is the body's
    tail = _NUMERIC_TAIL.fullmatch(raw, end) if head is not None and end > head.end() else None
    if tail is None or (head["signature1"] is not None and tail["signature2"] is not None):
        return None  # not this shape, or a repeated key: let the JSON decoder decide
    signature = head["signature1"] if head["signature1"] is not None else tail["signature2"]
    try:
        signature_name = None if signature is None else signature.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return NumericBody("row" if head["key"] == b"instances" else "columnar", signature_name, raw[head.end():end])


@dataclasses.dataclass(frozen=True)
class _FastPlan:
    """What `numeric_input` needs of a single-input float signature, worked out once."""

    name: str
    example_shape: tuple[int, ...]
    example_size: int
    dtype: Any


_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # signature function -> plan or None


def _fast_plan(function) -> _FastPlan | None:
    if function in _plans:
        return _plans[function]
    specs = input_specs(function)
    plan = None
    if len(specs) == 1:
        ((name, spec),) = specs.items()
        dims = spec.shape.as_list() if spec.shape.rank else None
        dtype = spec.dtype.as_numpy_dtype
        example_size = math.prod(dims[1:]) if dims and None not in dims[1:] else 0
        if dtype in _FAST_DTYPES and example_size:
            plan = _FastPlan(name, tuple(dims[1:]), example_size, dtype)
    _plans[function] = plan
    return plan


def numeric_input(body: NumericBody, function) -> dict[str, np.ndarray] | None:
    """The checked input array of a single-input float signature from a `NumericBody`, or None
    when the general path must decide (several inputs, another dtype, not all numbers, a shape
    it cannot confirm). Row and columnar formats mean the same array for a single input."""
    plan = _fast_plan(function)
    if plan is None:
        return None
    # simdjson checks the bytes are strict JSON of arrays and numbers (NaN, Infinity, strings,
    # malformed numbers and numbers beyond 64-bit integers or doubles all fail) and copies the
    # numbers, flattened, into a buffer of doubles without making a Python float each. Doubles
    # are what `json.loads` makes too, so the cast rounds exactly as the general path does.
    try:
        numbers = np.frombuffer(simdjson.Parser().parse(body.value).as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError):
        return None
    if not numbers.size or numbers.size % plan.example_size:
        return None
    shape = (numbers.size // plan.example_size, *plan.example_shape)
    # Valid JSON of arrays and numbers whose brackets and commas are exactly those of `shape`
    # holds at most one number per slot, so with the count right it is exactly that array.
    if body.value.translate(None, _NUMBER_OR_SPACE) != _skeleton(shape):
        return None  # ragged, or nested differently than the signature's rank
    # The doubles are finite (simdjson refuses anything else), so the cast is finite unless it
    # overflows the dtype, which NumPy reports as a FloatingPointError. Of check_array's checks
    # nothing else is left: the dtype, rank and example shape are the signature's by
    # construction, and the batch is not empty.
    try:
        with np.errstate(over="raise"):
            array = numbers.astype(plan.dtype, copy=False).reshape(shape)
    except FloatingPointError:  # too large for the dtype: the general path's message
        with np.errstate(over="ignore"):
            _check_finite(plan.name, numbers.astype(plan.dtype).reshape(shape))
        raise
    return {plan.name: array}


def _skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a JSON array of `shape` with its numbers removed."""
    inner = _example_skeleton(shape[1:]) if len(shape) > 1 else b""
    return b"[" + b",".join([inner] * shape[0]) + b"]"


# One example's skeleton is cached (a signature has one example shape); a whole batch's is not,
# or clients sending ever larger batches would fill the cache with megabytes each.
_example_skeleton = functools.lru_cache(maxsize=256)(_skeleton)


def parse_predict_request(body: Any, function) -> tuple[dict[str, np.ndarray], str]:
    """(inputs as arrays, "row" or "columnar") from a decoded JSON predict request."""
    if not isinstance(body, Mapping):
        raise InvalidArgument(f"The request body must be a JSON object. Received: {type(body).__name__}")
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise InvalidArgument(f"Unknown key(s) in the request: {', '.join(unknown)}. "
                              "Expected 'instances' or 'inputs', and optionally 'signature_name'.")
    if ("instances" in body) == ("inputs" in body):
        raise InvalidArgument("The request must have exactly one of 'instances' (row format) or "
                              "'inputs' (columnar format). Received: "
                              + ("both" if "instances" in body else "neither"))
    specs = input_specs(function)
    if "instances" in body:
        return _rows(body["instances"], specs), "row"
    return _columns(body["inputs"], specs), "columnar"


def _rows(instances, specs) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidArgument(f"'instances' must be a list (one entry per example). Received: {type(instances).__name__}")
    if not instances:
        raise InvalidArgument("'instances' is empty: send at least one example.")
    names = sorted(specs)
    objects = [isinstance(item, Mapping) and not _is_b64(item) for item in instances]
    if any(objects):
        if not all(objects):
            raise InvalidArgument("Either every instance is an object of input name -> value, or none is.")
        values = {}
        for name in set().union(*instances) | set(names):
            _check_name(name, specs)
            missing = [i for i, item in enumerate(instances) if name not in item]
            if missing:
                raise InvalidArgument(f"Instance {missing[0]} has no value for input {name!r}.")
            values[name] = [item[name] for item in instances]
        return {name: to_array(name, value, specs[name]) for name, value in values.items()}
    if len(names) != 1:
        raise InvalidArgument(f"The signature has {len(names)} inputs ({', '.join(names)}): each instance "
                              "must be an object of input name -> value.")
    return {names[0]: to_array(names[0], instances, specs[names[0]])}


def _columns(inputs, specs) -> dict[str, np.ndarray]:
    names = sorted(specs)
    if isinstance(inputs, Mapping) and not _is_b64(inputs):
        for name in names:
            if name not in inputs:
                raise InvalidArgument(f"'inputs' has no value for input {name!r}. Expected inputs: {', '.join(names)}")
        for name in inputs:
            _check_name(name, specs)
        return {name: to_array(name, inputs[name], specs[name]) for name in names}
    if len(names) != 1:
        raise InvalidArgument(f"The signature has {len(names)} inputs ({', '.join(names)}): 'inputs' must be "
                              "an object of input name -> value.")
    return {names[0]: to_array(names[0], inputs, specs[names[0]])}


def _check_name(name, specs) -> None:
    if name not in specs:
        raise InvalidArgument(f"Unknown input {name!r}. The signature's inputs: {', '.join(sorted(specs))}")


def _is_b64(value) -> bool:
    return isinstance(value, Mapping) and set(value) == {"b64"}


def _decode_b64(value):
    if _is_b64(value):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, TypeError) as error:
            raise InvalidArgument(f"Invalid base64 in a {{'b64': ...}} value: {error}") from None
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def to_array(name: str, value, spec) -> np.ndarray:
    """`value` (nested lists from JSON) as an array of the spec's dtype and a compatible shape."""
    dtype = spec.dtype
    if dtype.name == "string":
        array = np.asarray(_decode_b64(value), dtype=object)
        if any(not isinstance(v, bytes) for v in array.reshape(-1)):
            raise InvalidArgument(f"Input {name!r} expects strings (DT_STRING). Received other values.")
        return check_array(name, array, spec)
    if not dtype.is_bool:
        _check_numbers(name, value, dtype)
    if dtype.is_floating:
        try:  # the common case in one pass; anything unusual takes the checked path below
            with np.errstate(over="ignore"):  # too large for the dtype: inf, which check_array reports
                array = np.asarray(value, dtype=dtype.as_numpy_dtype)
        except (ValueError, TypeError):
            pass
        except OverflowError:  # an integer literal beyond any float, e.g. 10**400
            raise InvalidArgument(f"Input {name!r} holds a number too large for {dtype.name}.") from None
        else:
            return check_array(name, array, spec)  # checks finiteness too
    try:
        raw = np.asarray(value)
    except ValueError:
        raise InvalidArgument(f"Input {name!r} is not a rectangular (nested) list: its rows have different "
                              "lengths.") from None
    if raw.dtype == object or raw.dtype.kind in "USV":
        raise InvalidArgument(f"Input {name!r} expects numbers of type {dtype.name} (DT_{dtype.name.upper()}). "
                              f"Received {_describe(raw)}.")
    if raw.dtype.kind == "b" and not dtype.is_bool:
        raise InvalidArgument(f"Input {name!r} expects {dtype.name}. Received booleans.")
    if dtype.is_integer and raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise InvalidArgument(f"Input {name!r} expects integers ({dtype.name}). Received fractional values.")
    if dtype.is_integer and raw.size:
        info = np.iinfo(dtype.as_numpy_dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise InvalidArgument(f"Input {name!r} holds integers outside {dtype.name}'s range "
                                  f"[{info.min}, {info.max}].")
    return check_array(name, raw.astype(dtype.as_numpy_dtype), spec)


_NUMBER_TYPES = frozenset({int, float})
_JSON_NAMES = {bool: "booleans (true/false)", str: "strings", type(None): "null", dict: "objects"}


def _check_numbers(name: str, value, dtype) -> None:
    """Refuses JSON values that are not numbers where a number belongs, as TF Serving does:
    NumPy would quietly read "7" and "1.5" as numbers, true as 1 and null as NaN."""
    kinds, stack = set(), [value]
    while stack:
        item = stack.pop()
        if type(item) is list:
            kinds.update(map(type, item))
            stack.extend(v for v in item if type(v) is list)
        else:
            kinds.add(type(item))
    kinds.discard(list)
    wrong = kinds - _NUMBER_TYPES
    if wrong:
        described = ", ".join(sorted(_JSON_NAMES.get(kind, kind.__name__) for kind in wrong))
        raise InvalidArgument(f"Input {name!r} expects numbers of type {dtype.name} (DT_{dtype.name.upper()}). "
                              f"Received {described}.")


# The TensorProto field that carries each dtype's values when `tensor_content` is not used,
# and how many entries of it make one element (complex numbers take two).
_PROTO_FIELDS = {"float32": "float_val", "float64": "double_val", "int32": "int_val", "int16": "int_val",
                 "int8": "int_val", "uint8": "int_val", "uint16": "int_val", "int64": "int64_val",
                 "uint32": "uint32_val", "uint64": "uint64_val", "bool": "bool_val", "string": "string_val",
                 "float16": "half_val", "bfloat16": "half_val", "complex64": "scomplex_val",
                 "complex128": "dcomplex_val"}


def array_from_proto(name: str, proto, spec) -> np.ndarray:
    """A gRPC request's TensorProto as a checked array. The declared shape must match the data
    sent, element for element: TensorFlow would repeat a lone value over any declared shape
    (20,000 images from one number) or try to allocate whatever the shape says (petabytes)."""
    import tensorflow as tf

    dims = [dim.size for dim in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(size < 0 for size in dims):
        raise InvalidArgument(f"Input {name!r} declares shape {dims}: every dimension must be known and >= 0.")
    count = math.prod(dims)
    try:
        dtype = tf.dtypes.as_dtype(proto.dtype)
    except TypeError:
        raise InvalidArgument(f"Input {name!r} has an unknown dtype enum {proto.dtype}.") from None
    if proto.tensor_content:
        sent, unit = len(proto.tensor_content), "bytes of tensor_content"
        matches = dtype.name != "string" and sent == count * dtype.size
    else:
        field = _PROTO_FIELDS.get(dtype.name)
        if field is None:
            raise InvalidArgument(f"Input {name!r} has dtype {dtype.name}, which this server does not take.")
        per_element = 2 if dtype.is_complex else 1
        sent, unit = len(getattr(proto, field)), f"values in {field}"
        matches = sent == count * per_element
    if not matches:
        raise InvalidArgument(f"Input {name!r} declares shape {dims} ({count:,} elements) but carries "
                              f"{sent:,} {unit}: "
                              "send exactly one value per element.")
    try:
        array = tf.make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"Input {name!r} is not a valid TensorProto: {error}") from None
    return check_array(name, array, spec)


def check_array(name: str, array: np.ndarray, spec) -> np.ndarray:
    """Checks an input array against its signature spec: dtype, shape, finite, non-empty."""
    dtype = spec.dtype
    expected_dtype = object if dtype.name == "string" else dtype.as_numpy_dtype
    if array.dtype != expected_dtype and not (dtype.name == "string" and array.dtype.kind in "SO"):
        raise InvalidArgument(f"Input {name!r} expects dtype {dtype.name}. Received {array.dtype.name}.")
    _check_finite(name, array)
    expected = spec.shape
    if expected.rank is not None:
        if array.ndim != expected.rank or any(
                want is not None and want != got for want, got in zip(expected.as_list(), array.shape)):
            raise InvalidArgument(f"Input {name!r} has shape {list(array.shape)}; the signature expects "
                                  f"{_shape_text(expected)} (-1: any size).")
    if array.ndim and array.shape[0] == 0:
        raise InvalidArgument(f"Input {name!r} is an empty batch: send at least one example.")
    return array


def _check_finite(name: str, array: np.ndarray) -> None:
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InvalidArgument(f"Input {name!r} contains NaN or infinite values (first at index {bad}).")


def _describe(array: np.ndarray) -> str:
    kinds = sorted({type(v).__name__ for v in array.reshape(-1)[:100]})
    return f"values of type {', '.join(kinds)}" if kinds else "no values"


def _shape_text(shape) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]"


def encode_predict_response(outputs: Mapping[str, Any], request_format: str) -> bytes:
    """`format_predict_response` as JSON bytes. Numeric outputs go straight from the arrays to
    JSON (orjson writes float32 in its shortest form, as `format_predict_response` does, ten
    times faster); NaN and Inf (which TF Serving writes as NaN and Infinity, and orjson as
    null), strings and float16 take the general path."""
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    if all(array.ndim and (array.dtype.kind in "biu" or array.dtype in _SHORTEST_FLOATS) for array in arrays.values()):
        arrays = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
        if request_format == "columnar":
            body = {"outputs": next(iter(arrays.values())) if len(arrays) == 1 else arrays}
        elif len(arrays) == 1:
            body = {"predictions": next(iter(arrays.values()))}
        else:
            sizes = {len(array) for array in arrays.values()}
            if len(sizes) != 1:
                return json_bytes(format_predict_response(outputs, request_format))  # raises the error
            body = {"predictions": [{name: array[i] for name, array in arrays.items()} for i in range(sizes.pop())]}
        encoded = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        # Numbers never write "null": orjson wrote a NaN or an infinity (or an output is named
        # so), and the general path writes those as TF Serving does. One search of the bytes
        # costs less than a finiteness check of every array.
        if b"null" not in encoded:
            return encoded
    return json_bytes(format_predict_response(outputs, request_format))


_SHORTEST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def json_bytes(content: Any) -> bytes:
    """`content` as TF Serving's JSON: NaN and Infinity stay as they are (api_rest.md, "JSON
    conformance"), where strict JSON has no way to write them.

    Example:
        >>> json_bytes({"outputs": [float("nan")]})
        b'{"outputs": [NaN]}'
    """
    return json.dumps(content, allow_nan=True).encode()


def format_predict_response(outputs: Mapping[str, Any], request_format: str) -> dict[str, Any]:
    """TF Serving's response body: `predictions` (row requests) or `outputs` (columnar)."""
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    values = {name: _jsonable(name, array) for name, array in arrays.items()}
    if request_format == "columnar":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    sizes = {array.shape[0] if array.ndim else None for array in arrays.values()}
    if len(sizes) != 1 or None in sizes:
        raise InvalidArgument("The outputs have different batch sizes and cannot be returned as rows; "
                              "send the request in columnar format ('inputs').")
    (size,) = sizes
    return {"predictions": [{name: value[i] for name, value in values.items()} for i in range(size)]}


def _jsonable(name: str, array: np.ndarray):
    if array.dtype == object or array.dtype.kind == "S":
        binary = name.endswith("_bytes")

        def encode(v):
            return {"b64": base64.b64encode(v).decode("ascii")} if binary else v.decode("utf-8", "replace")

        return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()
    if array.dtype.kind == "f":  # float32 values as their shortest decimal form, not float64 noise
        return _floats(array.tolist(), array.dtype)
    return array.tolist()


def _floats(value, dtype):
    if isinstance(value, list):
        return [_floats(v, dtype) for v in value]
    return float(str(dtype.type(value))) if math.isfinite(value) else value
