"""Front ends: turn a model file (ONNX, or the lipc language) into a core Network."""
