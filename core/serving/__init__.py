"""Serving: the student as ONNX, and ``stillroom score`` over an exported folder."""
