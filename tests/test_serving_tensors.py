"""The REST request fast path reads exactly what the general JSON path reads, and the fast
response encoder writes the same numbers as the general one.

`zoo.serving.tensors` has two ways to read a predict body: `match_numeric_body` +
`numeric_input` straight from the bytes, and `json.loads` + `parse_predict_request`. The
server tries the first and falls back to the second, so the first may decline anything, but
whatever it accepts must be the general path's array, bit for bit, and it must accept the
common requests (or the server is no faster than before).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from zoo.serving import tensors
from zoo.serving.errors import InvalidArgument


def _loaded_signature(tmp_path, spec: tf.TensorSpec):
    """A signature as the server sees it: saved, loaded, keyword inputs."""
    module = tf.Module()
    module.serve = tf.function(lambda x: {"out": tf.identity(x)}, input_signature=[spec])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    return tf.saved_model.load(str(tmp_path)).signatures["serving_default"]


@pytest.fixture(scope="module")
def images_signature(tmp_path_factory):
    return _loaded_signature(tmp_path_factory.mktemp("images"), tf.TensorSpec([None, 4, 3, 1], tf.float32, "images"))


def _general(body: bytes, function):
    """(array, format) or the general path's error message."""
    try:
        decoded = json.loads(body)
    except json.JSONDecodeError as error:
        return f"malformed JSON: {error}"
    try:
        inputs, request_format = tensors.parse_predict_request(decoded, function)
    except InvalidArgument as error:
        return error.message
    return inputs, request_format


def _fast(body: bytes, function):
    """(array, format), None when the fast path declines, or its error message."""
    numeric = tensors.match_numeric_body(body)
    if numeric is None:
        return None
    try:
        inputs = tensors.numeric_input(numeric, function)
    except InvalidArgument as error:  # e.g. a number too large for float32
        return error.message
    return None if inputs is None else (inputs, numeric.request_format)


def _assert_same(body: bytes, function) -> bool:
    """Asserts the fast path agrees with the general one; returns whether it answered."""
    fast, general = _fast(body, function), _general(body, function)
    if fast is None:
        return False
    if isinstance(fast, str):  # a refusal: the same one, in the same words
        assert fast == general, body
        return True
    assert not isinstance(general, str), f"fast path accepted what the general path refuses ({general}): {body!r}"
    (fast_inputs, fast_format), (general_inputs, general_format) = fast, general
    assert fast_format == general_format and fast_inputs.keys() == general_inputs.keys()
    for name in fast_inputs:
        assert fast_inputs[name].dtype == general_inputs[name].dtype
        assert fast_inputs[name].shape == general_inputs[name].shape
        assert fast_inputs[name].tobytes() == general_inputs[name].tobytes(), body
    return True


def _nested(shape, numbers):
    return np.asarray(numbers, dtype=object).reshape(shape).tolist()


COMMON = [
    ("row", {"instances": np.arange(12.0).reshape(1, 4, 3, 1).tolist()}, {}),
    ("columnar", {"inputs": np.linspace(-3, 3, 36).reshape(3, 4, 3, 1).tolist()}, {}),
    ("signature name first", {"signature_name": "serving_default",
                              "instances": np.ones((2, 4, 3, 1)).tolist()}, {}),
    ("signature name last", {"instances": np.ones((2, 4, 3, 1)).tolist(),
                             "signature_name": "serving_default"}, {}),
    ("integers and exponents", {"instances": _nested((1, 4, 3, 1), [1, -2, 3e5, 4.5E-3, -0.0, 0, 7e+2, 8, 9,
                                                                    1e-45, 3.4e38, 255])}, {}),
    ("integers beyond 2**53", {"instances": _nested((1, 4, 3, 1), [2**53 + 1, 2**53 + 2**29 + 1, -(2**53 + 2**29 + 1),
                                                                  2**63 - 1, -2**63, 2**64 - 1, 16777217,
                                                                  2**62 + 2**38 + 1, 0, -0, 1, 2])}, {}),
    ("too large for float32", {"instances": _nested((1, 4, 3, 1), [1e39] + [1] * 11)}, {}),
    ("pretty printed", {"instances": np.ones((1, 4, 3, 1)).tolist()}, {"indent": 2}),
    ("compact", {"inputs": np.ones((1, 4, 3, 1)).tolist()}, {"separators": (",", ":")}),
]


@pytest.mark.parametrize("case", COMMON, ids=[c[0] for c in COMMON])
def test_the_fast_path_reads_common_requests_exactly_as_the_json_path(images_signature, case):
    _, body, dump_options = case
    assert _assert_same(json.dumps(body, **dump_options).encode(), images_signature)


DECLINED = [
    ("ragged", b'{"instances": [[[[1],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11]]]]}'),
    ("too deep", b'{"instances": [[[[[1]],[[2]],[[3]]],[[[4]],[[5]],[[6]]],[[[7]],[[8]],[[9]]],'
                 b'[[[10]],[[11]],[[12]]]]]}'),
    ("flat", b'{"instances": [1,2,3,4,5,6,7,8,9,10,11,12]}'),
    ("wrong example size", b'{"instances": [[[[1],[2],[3]],[[4],[5],[6]],[[7],[8],[9]]]]}'),
    ("NaN", b'{"instances": [[[[NaN],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("plus sign", b'{"instances": [[[[+1],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("leading zero", b'{"instances": [[[[01],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("bare point", b'{"instances": [[[[.5],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("trailing point", b'{"instances": [[[[1.],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("empty", b'{"instances": []}'),
    ("form feed", b'{"instances": [[[[1],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]\x0c}'),
    ("two signature names", b'{"signature_name": "a", "instances": [[[[1],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],'
                            b'[[10],[11],[12]]]], "signature_name": "serving_default"}'),
    ("escaped signature name", b'{"signature_name": "serving\\u005fdefault", "instances": [[[[1],[2],[3]],'
                               b'[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("both keys", b'{"instances": [1], "inputs": [1]}'),
    ("missing comma", b'{"instances": [[[[1] [2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
    ("double comma", b'{"instances": [[[[1],,[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
]


@pytest.mark.parametrize("case", DECLINED, ids=[c[0] for c in DECLINED])
def test_the_fast_path_leaves_anything_unusual_to_the_json_path(images_signature, case):
    _, body = case
    assert _fast(body, images_signature) is None
    assert isinstance(_general(body, images_signature), str) or b"serving" in body  # the general path decides


LEFT_TO_JSON = [
    ("integer beyond 64 bits", b'{"instances": [[[[18446744073709551616],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],'
                               b'[[10],[11],[12]]]]}'),
    ("beyond a double", b'{"instances": [[[[1e400],[2],[3]],[[4],[5],[6]],[[7],[8],[9]],[[10],[11],[12]]]]}'),
]


@pytest.mark.parametrize("case", LEFT_TO_JSON, ids=[c[0] for c in LEFT_TO_JSON])
def test_numbers_the_fast_path_cannot_hold_are_read_by_the_json_path(images_signature, case):
    _, body = case
    assert _fast(body, images_signature) is None
    general = _general(body, images_signature)
    assert isinstance(general, str) and "infinite" in general or general[0]["images"].shape == (1, 4, 3, 1)


@pytest.mark.parametrize("dtype", [tf.float16, tf.float64, tf.bfloat16])
def test_other_float_dtypes_read_the_same_on_both_paths(tmp_path, dtype):
    """The fast path casts parsed doubles; the general path casts Python floats. Same bits, or
    (bfloat16) the general path alone."""
    signature = _loaded_signature(tmp_path, tf.TensorSpec([None, 3], dtype, "x"))
    rng = np.random.default_rng(1)
    values = [*rng.normal(0, 100, 31).round(3).tolist(), 2**53 + 2**29 + 1, 65519.99, 1e-8, 7e-46, 1.7976931348623157e308]
    for start in range(0, len(values), 3):
        body = json.dumps({"instances": [values[start:start + 3]]}).encode()
        if dtype == tf.bfloat16:
            assert _fast(body, signature) is None and not isinstance(_general(body, signature), str)
        else:
            assert _assert_same(body, signature)


def test_the_fast_path_never_disagrees_with_the_json_path_on_mangled_requests(images_signature):
    """2,000 bodies: valid ones in random layouts, then with one character deleted, doubled or
    swapped for a bracket, comma or digit. Whatever the fast path accepts, the general path
    reads as the same array."""
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(2000):
        batch = int(rng.integers(1, 4))
        values = rng.normal(0, 10.0 ** rng.integers(-3, 4), (batch, 4, 3, 1)).round(int(rng.integers(0, 8)))
        key = "instances" if rng.random() < 0.5 else "inputs"
        body = json.dumps({key: values.tolist()}, indent=None if rng.random() < 0.7 else 1).encode()
        mutation = rng.integers(0, 4)
        if mutation:
            position = int(rng.integers(0, len(body)))
            replacement = [b"", body[position:position + 1] * 2, bytes([rng.choice(list(b"[],-.e1"))])][mutation - 1]
            body = body[:position] + replacement + body[position + 1:]
        accepted += _assert_same(body, images_signature)
    assert accepted > 500  # the unmangled half, and mutations that keep the body valid


def test_non_float_inputs_take_the_json_path(tmp_path):
    ids = _loaded_signature(tmp_path, tf.TensorSpec([None, 2], tf.int64, "ids"))
    body = b'{"instances": [[1, 2]]}'
    assert tensors.match_numeric_body(body) is not None
    assert tensors.numeric_input(tensors.match_numeric_body(body), ids) is None
    assert tensors.parse_predict_request(json.loads(body), ids)[0]["ids"].tolist() == [[1, 2]]


OUTPUTS = [
    ("one float output, rows", {"probabilities": np.float32([[0.1, 0.2], [1e-45, 3.4e38]])}, "row"),
    ("several outputs, rows", {"classes": np.int64([3, 1]), "scores": np.float32([[0.5, 1 / 3], [2.0, -7e-9]]),
                               "flags": np.bool_([True, False])}, "row"),
    ("several outputs, columns", {"classes": np.int64([3]), "scores": np.float64([[1 / 3, 2e300]])}, "columnar"),
    ("NaN and Infinity", {"scores": np.float32([[np.nan, np.inf, -np.inf, 1.5]])}, "row"),
    ("NaN in one of several outputs", {"classes": np.int64([1, 2]), "scores": np.float64([[-np.inf], [np.nan]])}, "row"),
    ("an output named null", {"null_scores": np.float32([[0.5, 0.25]])}, "columnar"),
    ("float16", {"scores": np.float16([[0.1, 2.5]])}, "columnar"),
    ("strings", {"labels": np.array([[b"cat"], [b"dog"]], dtype=object)}, "row"),
]


@pytest.mark.parametrize("case", OUTPUTS, ids=[c[0] for c in OUTPUTS])
def test_the_response_encoder_writes_what_the_general_formatter_writes(case):
    _, outputs, request_format = case
    encoded = tensors.encode_predict_response(outputs, request_format)
    general = json.dumps(tensors.format_predict_response(outputs, request_format), allow_nan=True)
    assert json.loads(encoded) == json.loads(general)
    if "NaN" in general:  # TF Serving writes them as NaN / Infinity, never null
        assert b"NaN" in encoded and b"Infinity" in encoded and b"null" not in encoded


def test_rows_of_outputs_with_different_batch_sizes_are_refused_with_advice():
    with pytest.raises(InvalidArgument, match="columnar format"):
        tensors.encode_predict_response({"a": np.float32([1, 2]), "b": np.float32([1])}, "row")
