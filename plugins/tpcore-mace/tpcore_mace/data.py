"""A training set made on this machine: ASE's EMT potential drives short MD of small metal cells.

Nothing is downloaded. Each trajectory is an fcc supercell (Cu, Ag, Au, or a random Cu-Au alloy)
with one vacancy, thermalized with Langevin dynamics at one of a few temperatures; every
``stride``-th frame is kept with its EMT energy and forces. The frames are cached as extended XYZ
under ``cache_dir`` keyed by the generation parameters, so a second call reads them back.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

#: (symbols, cubic lattice constant in Angstrom): 2x2x2 conventional fcc cells, 32 sites
SYSTEMS = (("Cu", 3.61), ("Ag", 4.09), ("Au", 4.08), ("CuAu", 3.85))
ENERGY_KEY, FORCES_KEY = "REF_energy", "REF_forces"


@dataclass(frozen=True)
class EMTDataSpec:
    """What to generate; the cache file is named after a hash of these fields."""

    n_configs: int = 320
    temperatures: tuple = (600.0, 1200.0)
    equilibration_steps: int = 100
    stride: int = 10
    timestep_fs: float = 4.0
    repeat: int = 2
    seed: int = 0
    systems: tuple = field(default=SYSTEMS)

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _cell(symbols: str, lattice: float, repeat: int, rng: np.random.Generator):
    from ase.build import bulk

    element = "Cu" if symbols == "CuAu" else symbols
    atoms = bulk(element, "fcc", a=lattice, cubic=True).repeat(repeat)
    if symbols == "CuAu":
        atoms.set_chemical_symbols(rng.choice(["Cu", "Au"], size=len(atoms)).tolist())
    del atoms[int(rng.integers(len(atoms)))]  # one vacancy
    return atoms


def _trajectory(symbols, lattice, temperature, n_frames, spec: EMTDataSpec, rng):
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = _cell(symbols, lattice, spec.repeat, rng)
    atoms.calc = EMT()
    with warnings.catch_warnings():
        # ASE 3.29's notes on MaxwellBoltzmannDistribution's name and Langevin(fixcm=True)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        md = Langevin(atoms, spec.timestep_fs * units.fs, temperature_K=temperature, friction=0.02, rng=rng)
    md.run(spec.equilibration_steps)
    frames = []
    for _ in range(n_frames):
        md.run(spec.stride)
        frame = atoms.copy()
        frame.calc = None
        frame.info[ENERGY_KEY] = float(atoms.get_potential_energy())
        frame.arrays[FORCES_KEY] = atoms.get_forces().copy()
        frame.info["config_type"] = f"{symbols}_{int(temperature)}K"
        frames.append(frame)
    return frames


def generate(spec: EMTDataSpec = EMTDataSpec()) -> list:
    """``spec.n_configs`` ase.Atoms with EMT energies (info ``REF_energy``) and forces (arrays ``REF_forces``)."""
    rng = np.random.default_rng(spec.seed)
    runs = [(s, a, t) for s, a in spec.systems for t in spec.temperatures]
    counts = np.full(len(runs), spec.n_configs // len(runs))
    counts[: spec.n_configs % len(runs)] += 1
    frames = []
    for (symbols, lattice, temperature), n in zip(runs, counts):
        frames += _trajectory(symbols, lattice, temperature, int(n), spec, rng)
    return frames


def load(spec: EMTDataSpec = EMTDataSpec(), cache_dir: str | Path = ".cache/tpcore-mace", verbose: bool = True) -> list:
    """The data set of ``spec``: read from ``cache_dir`` when it is there, else generated and cached."""
    import ase.io

    path = Path(cache_dir) / f"emt-{spec.key()}.extxyz"
    if path.exists():
        return ase.io.read(path, index=":")
    if verbose:
        print(f"data: generating {spec.n_configs} EMT configurations into {path}", flush=True)
    frames = generate(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    ase.io.write(tmp, frames, format="extxyz")
    tmp.replace(path)
    return ase.io.read(path, index=":")


def split(frames: list, n_valid: int, seed: int = 0) -> tuple[list, list]:
    """A seeded shuffle of ``frames`` into (train, valid)."""
    order = np.random.default_rng(seed).permutation(len(frames))
    return [frames[i] for i in order[n_valid:]], [frames[i] for i in order[:n_valid]]


def to_graphs(frames: list, z_table, r_max: float) -> list:
    """MACE ``AtomicData`` graphs (energies and forces attached) of ``frames``."""
    from mace import data as mace_data

    keys = mace_data.KeySpecification(info_keys={"energy": ENERGY_KEY}, arrays_keys={"forces": FORCES_KEY})
    return [
        mace_data.AtomicData.from_config(mace_data.config_from_atoms(a, key_specification=keys), z_table=z_table, cutoff=r_max)
        for a in frames
    ]
