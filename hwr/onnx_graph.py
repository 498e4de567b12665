"""Stage: the CRNN as an ONNX graph, written from its weights with ONNX's own recurrent operators.

``keras.Model.export(format="onnx")`` (tf2onnx) traces TensorFlow's graph, and Keras 3's GRU comes
out of it as a ``Loop`` node that runs a subgraph per timestep: on the 2-core CPU, ONNX Runtime
took 5.4 ms for one image and 10.4 ms for the three readings of one image, most of it in that
loop. ONNX has the recurrent layer as one operator (``GRU``, ``LSTM``), which ONNX Runtime runs as
one fused kernel; written that way the same weights take 1.2 and 2.5 ms (``python
scripts/bench_onnx_export.py``). The graph is the model's own layers, one operator or two each:

- each conv block: ``Conv`` with the batch normalisation folded into its weights and bias (the
  inference form of the layer), ``Relu``, ``MaxPool`` (none after a strided conv);
- ``width_first``, ``columns`` and ``project``: one ``Conv`` over whole columns, ``Relu``, and the
  time axis moved first; dropout is the identity at inference;
- each ``Bidirectional`` GRU or LSTM: one bidirectional ``GRU`` or ``LSTM`` node, the forward
  and backward outputs concatenated as Keras does;
- ``log_probs``: ``MatMul``, ``Add``, ``LogSoftmax``.

It needs only the weights, so it writes the serving copy under any Keras backend (JAX and PyTorch
too, where tf2onnx cannot). ``tests/test_onnx.py`` holds its outputs equal to Keras' and to
tf2onnx's export for GRU and LSTM models, strided and pooled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras
    import onnx

#: ONNX operator set written (ONNX Runtime 1.32 reads up to 23; 17 has every operator used here)
OPSET = 17


class GraphError(ValueError):
    """The model is not a CRNN this module can write (a layer missing, renamed or configured otherwise)."""


def crnn_graph(model: keras.Model) -> onnx.ModelProto:
    """``model`` (built by ``hwr.model.build_model``) as an ONNX model: input ``image`` (N, H, W, 1)
    float32, output ``log_probs`` (N, T, C). Raises GraphError for any other model."""
    import onnx
    from onnx import TensorProto, helper

    height, width, channels = model.input_shape[1:]
    if channels != 1:
        raise GraphError(f"{model.name} reads {channels} channels; the CRNN reads one (gray)")
    graph = _Graph()
    # (N, H, W, 1) → (N, 1, H, W), the layout of ONNX's Conv: with one channel a reshape, not a transpose
    x = graph.node("Reshape", ["image", graph.const("image_shape", np.array([0, 1, height, width], np.int64))])
    block = 1
    while _layer(model, f"conv{block}", required=False) is not None:
        x = _conv_block(graph, model, block, x)
        block += 1
    if block == 1:
        raise GraphError(f"{model.name} has no layer conv1: not a CRNN built by hwr.model.build_model")
    _, _, rows, depth = _layer(model, "width_first").output.shape  # (N, W, H, C) of the last block
    x = _columns(graph, _layer(model, "project"), x, int(rows), int(depth))
    layer = 1
    while (bidirectional := _layer(model, f"birnn{layer}", required=False)) is not None:
        x = _recurrent(graph, bidirectional, x, f"birnn{layer}")
        layer += 1
    x = graph.node("Transpose", [x], perm=[1, 0, 2])  # (T, N, F) → (N, T, F)
    out = _layer(model, "log_probs")
    if out.activation.__name__ != "log_softmax":
        raise GraphError(f"layer log_probs ends in {out.activation.__name__}, not log_softmax")
    x = _dense(graph, out, x)
    graph.node("LogSoftmax", [x], axis=-1, output="log_probs")
    classes = int(out.get_weights()[0].shape[1])
    proto = helper.make_model(
        helper.make_graph(graph.nodes, model.name,
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", height, width, channels])],
                          [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["batch", "steps", classes])],
                          graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hwr.onnx_graph")
    onnx.checker.check_model(proto)
    return proto


class _Graph:
    """Nodes and weights in the order they are added; each node's output named after it."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes) -> str:
        from onnx import helper

        output = output or f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output


def _layer(model: keras.Model, name: str, required: bool = True):
    try:
        return model.get_layer(name)
    except ValueError:
        if required:
            raise GraphError(f"{model.name} has no layer {name}: not a CRNN built by hwr.model.build_model") from None
        return None


def _conv_block(graph: _Graph, model: keras.Model, i: int, x: str) -> str:
    """conv{i} with bn{i} folded in, ReLU, and pool{i} where the block pools."""
    conv, bn = _layer(model, f"conv{i}"), _layer(model, f"bn{i}")
    if conv.use_bias or conv.padding != "same" or conv.activation.__name__ != "linear":
        raise GraphError(f"conv{i} is not a bias-free 'same' convolution followed by bn{i}")
    (kernel,) = conv.get_weights()  # (kh, kw, in, out)
    gamma, beta, mean, variance = bn.get_weights()
    scale = gamma / np.sqrt(variance + bn.epsilon)
    weight = np.transpose(kernel, (3, 2, 0, 1)) * scale[:, None, None, None]  # (out, in, kh, kw)
    bias = beta - mean * scale
    # SAME_UPPER pads as TensorFlow's "same" does: the odd pixel after, for a strided conv
    x = graph.node("Conv", [x, graph.const(f"conv{i}.weight", weight.astype(np.float32)),
                            graph.const(f"conv{i}.bias", bias.astype(np.float32))],
                   kernel_shape=list(kernel.shape[:2]), strides=list(conv.strides), auto_pad="SAME_UPPER")
    x = graph.node("Relu", [x])
    pool = _layer(model, f"pool{i}", required=False)
    if pool is not None:
        if pool.padding != "valid":
            raise GraphError(f"pool{i} pads; only 'valid' max-pooling is written")
        x = graph.node("MaxPool", [x], kernel_shape=list(pool.pool_size), strides=list(pool.strides))
    return x


def _columns(graph: _Graph, project, x: str, rows: int, channels: int) -> str:
    """Keras' ``width_first``, ``columns`` and ``project`` (Dense + ReLU on each column's H·C
    features) as one convolution over whole columns, then time first: (N, C, H, W) → (W, N, D).

    Written as Keras has it (move the 4-D feature map to (W, N, H, C), then a MatMul), the move took
    22 ms of a 256-image batch's 330; the convolution's output is half as large (D = 96 features
    against H·C = 192) and three-dimensional once its unit height is dropped.
    """
    if project.activation.__name__ != "relu":
        raise GraphError(f"layer project ends in {project.activation.__name__}, not relu")
    kernel, bias = project.get_weights()  # (H·C, D), rows in Keras' order: h major, c minor
    weight = kernel.reshape(rows, channels, -1).transpose(2, 1, 0)[..., None]  # (D, C, H, 1)
    x = graph.node("Conv", [x, graph.const(f"{project.name}.weight", weight.astype(np.float32)),
                            graph.const(f"{project.name}.bias", bias.astype(np.float32))],
                   kernel_shape=[rows, 1])
    x = graph.node("Relu", [x])
    x = graph.node("Squeeze", [x, graph.const("row_axis", np.array([2], np.int64))])  # (N, D, W)
    return graph.node("Transpose", [x], perm=[2, 0, 1])


def _dense(graph: _Graph, layer, x: str) -> str:
    """A Dense layer's affine part on the last axis: MatMul, Add (its activation is the caller's)."""
    kernel, bias = layer.get_weights()
    x = graph.node("MatMul", [x, graph.const(f"{layer.name}.kernel", kernel.astype(np.float32))])
    return graph.node("Add", [x, graph.const(f"{layer.name}.bias", bias.astype(np.float32))])


#: Keras' gate order in a GRU's kernels (update, reset, candidate) is ONNX's (z, r, h); an LSTM's
#: (input, forget, cell, output) becomes ONNX's (i, o, f, c)
_LSTM_GATES = (0, 3, 1, 2)


def _recurrent(graph: _Graph, bidirectional, x: str, name: str) -> str:
    """One Bidirectional GRU/LSTM (return_sequences, concatenated) as one bidirectional ONNX node.

    Input and output are (T, N, features). Keras runs the backward layer on the reversed sequence
    and reverses its output back, which is what ONNX's reverse direction gives.
    """
    forward, backward = bidirectional.forward_layer, bidirectional.backward_layer
    kind = type(forward).__name__
    if bidirectional.merge_mode != "concat" or not forward.return_sequences or kind not in ("GRU", "LSTM"):
        raise GraphError(f"{name} is not a concatenating Bidirectional GRU or LSTM over the sequence")
    for layer in (forward, backward):
        if (layer.activation.__name__, layer.recurrent_activation.__name__) != ("tanh", "sigmoid"):
            raise GraphError(f"{name} uses other activations than tanh and sigmoid")
    units = forward.units
    weights = [_gru_weights(layer) if kind == "GRU" else _lstm_weights(layer) for layer in (forward, backward)]
    w, r, b = (np.stack(parts).astype(np.float32) for parts in zip(*weights))
    attributes = {"linear_before_reset": int(forward.reset_after)} if kind == "GRU" else {}
    y = graph.node(kind, [x, graph.const(f"{name}.W", w), graph.const(f"{name}.R", r), graph.const(f"{name}.B", b)],
                   hidden_size=units, direction="bidirectional", **attributes)
    # Y (T, 2, N, units) → (T, N, 2, units) → (T, N, 2·units): forward then backward, as Keras concatenates
    y = graph.node("Transpose", [y], perm=[0, 2, 1, 3])
    return graph.node("Reshape", [y, graph.const(f"{name}.shape", np.array([0, 0, -1], np.int64))])


def _gru_weights(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX's W (3U, in), R (3U, U), B (6U) of a Keras GRU; reset_after keeps a recurrent bias of its own."""
    kernel, recurrent, bias = layer.get_weights()
    if layer.reset_after:  # bias (2, 3U): the input's and the recurrent one, as ONNX's Wb and Rb
        b = np.concatenate([bias[0], bias[1]])
    else:
        b = np.concatenate([bias, np.zeros_like(bias)])
    return kernel.T, recurrent.T, b


def _lstm_weights(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX's W (4U, in), R (4U, U), B (8U) of a Keras LSTM, its gates reordered."""
    kernel, recurrent, bias = layer.get_weights()
    units = layer.units

    def gates(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a[..., g * units:(g + 1) * units] for g in _LSTM_GATES], axis=-1)
    b = gates(bias)
    return gates(kernel).T, gates(recurrent).T, np.concatenate([b, np.zeros_like(b)])
