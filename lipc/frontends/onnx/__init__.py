"""The ONNX front end: the graph reader and the table of op handlers (one entry per ONNX op)."""
