"""DeePMD-kit's backend-neutral model file (``.dp``, DeePMD-kit 3) read into a dpsycl Model.

``read_dp_model(path)`` is what ``dpsycl.load_model`` calls for a ``.dp`` file: container.py opens the
HDF5 file and its JSON (h5py and json only, no TensorFlow or PyTorch), energy_model.py maps the model
object onto :class:`dpsycl.model.Model` with descriptors.py (se_e2_a, se_r, hybrid) and networks.py (layers and
the checks against dpsycl's layer rule).  docs/model-format.md lists what is read from where.
"""
from .energy_model import read_dp_model

__all__ = ["read_dp_model"]
