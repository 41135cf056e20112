"""Read DeePMD-kit's backend-neutral model file (``.dp``) into a :class:`dpsycl.model.Model`.

DeePMD-kit 3 serialises a model the same way from every backend (``dp convert-backend`` from a
TensorFlow ``.pb`` or a PyTorch ``.pth``); its NumPy implementation, ``deepmd.dpmodel``, is the reference
for what the file means, and DeePMD-kit's PyTorch and JAX backends compute the same.  Only h5py and json
are needed (container.py); nothing is unpickled and no code from the file runs.

What is read from where in the file's ``model`` object (a "standard" model: a descriptor and a fitting):

* type_map                   -- ``type_map``
* the descriptor             -- ``descriptor`` (descriptors.py: se_e2_a, se_r and hybrid)
* fitting nets               -- ``fitting.nets`` (a NetworkCollection of ndim 1, one FittingNetwork per
                                species; networks.py), with ``neuron`` the hidden widths,
                                ``resnet_dt`` = some hidden layer has an idt, ``activation`` the hidden
                                layers' own activation
* bias_atom_e                -- ``fitting.@variables.bias_atom_e``, (ntypes, 1) -> (ntypes,)
* numb_fparam, numb_aparam   -- the fields of the same names; their statistics from ``fitting.@variables``
                                ``{f,a}param_avg`` and ``{f,a}param_inv_std`` (avg and istd)
* out_bias                   -- ``@variables.out_bias``, (1, ntypes, 1) (one output, energy) -> (ntypes,)
* out_std                    -- ones: DeePMD-kit's atomic models add ``out_bias`` to the atomic energy and do
                                not scale it by ``out_std`` (a training statistic here, e.g. 2.7 in a
                                PyTorch model), so  E_i = F_t(D_i) + bias_atom_e[t] + out_bias[t]
* precision                  -- the dtype of the weights (descriptor and fitting must agree)
* deepmd_version             -- the file's ``version`` (the DeePMD-kit that wrote the .dp)

Everything dpsycl cannot evaluate yet is refused with a one-line ModelError naming what was found:
other model types (linear, zbl, pairtab, spin), other descriptors, other fittings (dipole, polar, dos,
property), default frame parameters, aparam used as a mask, case embeddings, atom_ener, atom and pair exclusions, shared or
mixed-type fitting nets, compressed models, env_protection, the exponential switch, layers whose flags
differ from dpsycl's layer rule, and @versions newer than this reader knows.
"""
from __future__ import annotations

import os

import numpy as np

from ..model import EnergyFitting, Model, ModelError
from .container import DpFile, read_dp_file
from .descriptors import read_descriptor
from .networks import TensorFlowMeaning, check_version, collection_networks, need, one_activation, read_fitting_net

NEWEST_MODEL = 2           # @version of a "standard" (descriptor + fitting) model
NEWEST_FITTING = 4         # @version of an "ener" fitting
OTHER_MODELS = {
    "linear": "a linear combination of models", "linear_ener": "a linear combination of models",
    "zbl": "DP with a ZBL pair potential", "pairtab": "a pair table", "frozen": "a frozen model reference",
    "spin_ener": "a spin model", "inner_potential": "DP with an inner potential",
}
OTHER_FITTINGS = {"dipole": "dipole", "polar": "polarizability", "dos": "density of states",
                  "property": "property", "invar": "generic invariant", "sezm_ener": "DPA-4 energy"}


def read_dp_model(path: str | os.PathLike) -> Model:
    """Every parameter of the energy model in the DeePMD-kit ``.dp`` file at ``path``, validated."""
    dp = read_dp_file(path)
    try:
        return model_of(dp)
    except ModelError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # JSON of the right syntax but the wrong shape (a list where an object belongs, ...)
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"{dp.path}: malformed model in the .dp file ({type(exc).__name__}: {reason})") from None


def model_of(dp: DpFile) -> Model:
    """The Model of an opened .dp file (read_dp_model turns malformed JSON into one-line errors)."""
    path = dp.path
    model = dp.model
    check_model_kind(model, path)
    check_training_input(dp.training_model_section, path)
    type_map = need(model, "type_map", f"{path}: model")
    if not isinstance(type_map, list) or not type_map or not all(isinstance(t, str) for t in type_map):
        raise ModelError(f"{path}: model type_map {type_map!r} is not a list of species names")
    ntypes = len(type_map)
    try:
        descriptor, desc_dtype = read_descriptor(need(model, "descriptor", f"{path}: model"), type_map,
                                                 f"{path}: descriptor")
        fitting, fit_dtype = read_fitting(need(model, "fitting", f"{path}: model"), ntypes, f"{path}: fitting")
    except TensorFlowMeaning as exc:
        if dp.content.get("backend") == "TensorFlow":
            raise TensorFlowMeaning(f"{exc}; this .dp was converted from a TensorFlow model: give dpsycl its "
                                    "frozen_model.pb") from None
        raise TensorFlowMeaning(f"{exc}; such models are not supported yet") from None
    if desc_dtype != fit_dtype:
        raise ModelError(f"{path}: descriptor precision {desc_dtype} differs from fitting precision {fit_dtype}; "
                         "not supported yet")
    variables = need(model, "@variables", f"{path}: model")
    for name in ("out_bias", "out_std"):
        arr = need(variables, name, f"{path}: model @variables")
        if not isinstance(arr, np.ndarray) or arr.shape != (1, ntypes, 1):
            raise ModelError(f"{path}: model {name} has shape {getattr(arr, 'shape', arr)!r}, expected (1, {ntypes}, 1) "
                             "(one output, the energy, per species)")
    out_bias = variables["out_bias"]
    fitting.out_bias = out_bias.reshape(ntypes)
    fitting.out_std = np.ones(ntypes, dtype=out_bias.dtype)   # DeePMD-kit does not apply out_std (docstring)
    result = Model(type_map=list(type_map), descriptor=descriptor, fitting=fitting, precision=str(fit_dtype),
                   deepmd_version=str(dp.content.get("version", "unknown")), model_version="unknown",
                   source=os.path.basename(path))
    result.validate()
    return result


def check_model_kind(model: dict, path: str) -> None:
    """Refuse anything but a standard energy model (a descriptor and an 'ener' fitting), naming it."""
    kind = model.get("type", "standard")
    if "backbone_model" in model or model.get("spin") is not None:
        kind = "spin_ener"
    if kind != "standard":
        what = f" ({OTHER_MODELS[kind]})" if kind in OTHER_MODELS else ""
        raise ModelError(f"{path}: model type '{kind}'{what} is not supported yet; dpsycl reads standard "
                         "energy models (a descriptor and an 'ener' fitting)")
    check_version(model, "Model", NEWEST_MODEL, f"{path}: model")
    fitting_kind = need(model, "fitting", f"{path}: model").get("type", "ener")
    if fitting_kind != "ener":
        what = f" ({OTHER_FITTINGS[fitting_kind]})" if fitting_kind in OTHER_FITTINGS else ""
        raise ModelError(f"{path}: fitting '{fitting_kind}'{what} is not supported; dpsycl reads energy models "
                         "(fitting 'ener') only")
    for key in ("atom_exclude_types", "pair_exclude_types"):
        if model.get(key):
            raise ModelError(f"{path}: models with {key} {model[key]} are not supported yet")


def check_training_input(script: dict, path: str) -> None:
    """Refuse features of the training input that DeePMD-kit's TensorFlow serialiser drops silently
    (it writes empty exclusions and no pair table whatever the model had), so that the model in the file
    is not the model that was trained."""
    if script.get("use_srtab"):
        raise ModelError(f"{path}: the model was trained with a pair table (use_srtab {script['use_srtab']!r}), "
                         "which this .dp file does not carry; models with pair tables are not supported yet")
    for key in ("atom_exclude_types", "pair_exclude_types"):
        if script.get(key):
            raise ModelError(f"{path}: the model was trained with {key} {script[key]}; models with {key} are "
                             "not supported yet")
    if isinstance(script.get("compress"), dict):
        # DeePMD-kit's convert-backend of a `dp compress`ed graph writes neither its tables nor its nets
        source = script["compress"].get("model_file", "the uncompressed graph")
        raise ModelError(f"{path}: converted from a compressed graph, whose embedding nets and tables DeePMD-kit "
                         f"does not write to .dp; give dpsycl the compressed .pb, or convert {source} and run "
                         "`dpsycl compress` on it")


def read_fitting(node: dict, ntypes: int, where: str) -> tuple[EnergyFitting, np.dtype]:
    """The energy fitting (out_bias and out_std are set by the caller) and the dtype of its weights."""
    check_version(node, "Fitting", NEWEST_FITTING, where)
    if int(node.get("dim_case_embd") or 0) > 0:
        raise ModelError(f"{where}: models with case embeddings (dim_case_embd {node['dim_case_embd']}) are not "
                         "supported yet")
    if node.get("default_fparam") is not None:
        raise ModelError(f"{where}: default frame parameters (default_fparam {node['default_fparam']}) are not "
                         "supported yet")
    if node.get("use_aparam_as_mask") and int(node.get("numb_aparam") or 0) > 0:
        raise ModelError(f"{where}: atomic parameters used as an atom mask (use_aparam_as_mask) are not supported yet")
    if any(x is not None for x in node.get("atom_ener") or []):
        raise ModelError(f"{where}: fitting nets with atom_ener {node['atom_ener']} are not supported yet")
    if node.get("exclude_types"):
        raise ModelError(f"{where}: fitting exclude_types {node['exclude_types']} (atoms without energy) are not "
                         "supported yet")
    if node.get("mixed_types"):
        raise ModelError(f"{where}: one fitting net shared by all species (mixed_types) is not supported yet")
    if node.get("spin") is not None:
        raise ModelError(f"{where}: fittings with spin are not supported yet")
    if int(node.get("dim_out", 1)) != 1:
        raise ModelError(f"{where}: {node['dim_out']} outputs per atom; an energy fitting has 1")

    ndim, networks = collection_networks(need(node, "nets", where), ntypes, f"{where} nets")
    if ndim != 1:
        raise ModelError(f"{where} nets: a collection of ndim {ndim}; dpsycl reads one fitting net per species (ndim 1)")
    nets, activations = [], []
    for t, network in enumerate(networks):
        if network is None:
            raise ModelError(f"{where} nets: no fitting net for species {t}")
        layers, activation = read_fitting_net(network, f"{where} net of species {t}")
        nets.append(layers)
        activations.append(activation)
    widths = {tuple(int(layer.matrix.shape[1]) for layer in net[:-1]) for net in nets}
    if len(widths) != 1:
        raise ModelError(f"{where}: fitting nets have different widths: {sorted(widths)}")
    dtypes = {str(layer.matrix.dtype) for net in nets for layer in net}
    if len(dtypes) != 1:
        raise ModelError(f"{where}: fitting nets of different precisions {sorted(dtypes)}; not supported yet")
    bias = need(need(node, "@variables", where), "bias_atom_e", f"{where} @variables")
    if not isinstance(bias, np.ndarray) or bias.size != ntypes:
        raise ModelError(f"{where}: bias_atom_e has shape {getattr(bias, 'shape', bias)!r} for {ntypes} species")
    counts = {kind: int(node.get(f"numb_{kind}") or 0) for kind in ("fparam", "aparam")}
    fitting = EnergyFitting(neuron=list(widths.pop()),
                            resnet_dt=any(layer.idt is not None for net in nets for layer in net),
                            activation=one_activation(activations, f"{where} nets"), nets=nets,
                            bias_atom_e=bias.reshape(ntypes), out_bias=np.zeros(ntypes), out_std=np.ones(ntypes),
                            numb_fparam=counts["fparam"], numb_aparam=counts["aparam"],
                            fparam_stats=parameter_stats(node, "fparam", counts["fparam"], where),
                            aparam_stats=parameter_stats(node, "aparam", counts["aparam"], where))
    return fitting, np.dtype(dtypes.pop())


def parameter_stats(node: dict, kind: str, count: int, where: str) -> dict[str, np.ndarray]:
    """{avg, istd} of the frame ("fparam") or atomic ("aparam") parameters: ``@variables``
    ``{kind}_avg`` and ``{kind}_inv_std``, each (count,); {} for a model without them."""
    if count == 0:
        return {}
    variables = need(node, "@variables", where)
    stats = {}
    for stat, name in (("avg", f"{kind}_avg"), ("istd", f"{kind}_inv_std")):
        arr = variables.get(name)
        if not isinstance(arr, np.ndarray) or arr.shape != (count,):
            raise ModelError(f"{where}: numb_{kind} {count} but {name} is {getattr(arr, 'shape', arr)!r}, not "
                             f"({count},) numbers; damaged or inconsistent .dp file")
        stats[stat] = arr
    return stats
