"""Extraction of DeePMD-kit frozen graphs into dpsycl models (``dpsycl.extract``).

The only part of dpsycl that needs TensorFlow; TensorFlow is imported lazily, when a graph is
actually read, so importing this package stays cheap.
"""
from .frozen_graph import extract_model
from .graph import graph_constants, read_graph_def

__all__ = ["extract_model", "graph_constants", "read_graph_def"]
