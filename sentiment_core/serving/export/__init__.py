"""Exports: a run as a self-contained model folder (`folder`), its model card (`model_card`) and ONNX
(`onnx_export`)."""
