"""The CP Transformer: a causal decoder over compound-word tokens (CMT, Di et al. 2021).

Input: one embedding per token field, concatenated and projected to
``d_model``, plus a learned position embedding and a *time encoding*: the
embedding of the current beat-timing (carried forward from the last metrical
token), so every token knows where it is in the video.

Output, in three stages: the ``type`` head reads the hidden state; the other
heads read the hidden state plus the embedding of the chosen type (CMT's
two-stage head); ``pitch`` and ``duration`` also read the embedding of the
chosen instrument. So a sampler picks the type, then forces or samples each
field, and a note's pitch follows its instrument (CMT samples pitch and
instrument independently, so drum keys leak into tonal parts and tonal
pitches into the drum kit).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from cmtlite.constants import MODEL_ENV, MODEL_PATH
from cmtlite.errors import ConfigError
from cmtlite.tokens.vocab import BEAT_TIMING, DURATION, INSTRUMENT, PITCH, TYPE, VOCAB_SIZES


@dataclass
class KVCache:
    """Keys and values of the first ``length`` positions, preallocated for the whole context and written in place.

    ``kv`` has shape (layers, 2, batch, heads, context, d_head): appending a
    token writes one slot per layer instead of copying the cache.
    """

    kv: torch.Tensor
    length: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """Model sizes. ``embed_dims`` has one width per token field (in :data:`FIELDS` order)."""

    n_layer: int = 4
    n_head: int = 4
    d_model: int = 192
    d_ff: int = 768
    context: int = 512
    dropout: float = 0.1
    embed_dims: tuple[int, ...] = (16, 32, 32, 32, 128, 64, 16, 64, 32)
    vocab_sizes: tuple[int, ...] = VOCAB_SIZES

    def to_json(self) -> str:
        """The config as a JSON object string."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """A config from a dict (lists become tuples); unknown keys raise TypeError."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


CONFIGS = {
    "tiny": ModelConfig(n_layer=2, n_head=2, d_model=64, d_ff=128, context=128, embed_dims=(8, 8, 8, 8, 16, 16, 8, 16, 8)),
    "small": ModelConfig(),
    "cmt": ModelConfig(n_layer=12, n_head=8, d_model=512, d_ff=2048, context=1024, embed_dims=(32, 64, 64, 64, 512, 128, 32, 128, 64)),
}


def load_config(name_or_path: str) -> ModelConfig:
    """A named config (``tiny``, ``small``, ``cmt``) or a JSON file of :class:`ModelConfig` fields."""
    if name_or_path in CONFIGS:
        return CONFIGS[name_or_path]
    return ModelConfig.from_dict(json.loads(Path(name_or_path).read_text()))


class Block(nn.Module):
    """Pre-norm decoder block: causal self-attention (SDPA) and an MLP."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.norm1, self.norm2 = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, config.d_model), nn.Dropout(config.dropout)
        )

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None, past: int = 0) -> torch.Tensor:
        """x (B, T, d) at positions past..past+T-1 -> (B, T, d).

        ``kv`` (2, B, heads, context, d_head) holds the keys and values of the
        ``past`` earlier positions; this call writes its own after them.
        """
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        if kv is not None:
            kv[0, :, :, past : past + t], kv[1, :, :, past : past + t] = k, v
            k, v = kv[0, :, :, : past + t], kv[1, :, :, : past + t]
        if past == 0:
            mask, causal = None, True
        elif t == 1:  # one new query sees every key
            mask, causal = None, False
        else:  # new queries see every cached key and the new keys up to themselves
            mask = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(diagonal=past)
            causal = False
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0)
        x = x + F.dropout(self.out(y.transpose(1, 2).reshape(b, t, d)), self.dropout, self.training)
        return x + self.mlp(self.norm2(x))


class CPTransformer(nn.Module):
    """Causal compound-word Transformer with per-field embeddings and two-stage heads."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embeds = nn.ModuleList(nn.Embedding(n, e) for n, e in zip(config.vocab_sizes, config.embed_dims, strict=True))
        self.in_proj = nn.Linear(sum(config.embed_dims), d)
        self.position = nn.Embedding(config.context, d)
        self.time = nn.Embedding(config.vocab_sizes[BEAT_TIMING], d)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.LayerNorm(d)
        self.type_embed = nn.Embedding(config.vocab_sizes[TYPE], config.embed_dims[TYPE])
        self.type_proj = nn.Linear(d + config.embed_dims[TYPE], d)
        self.instrument_embed = nn.Embedding(config.vocab_sizes[INSTRUMENT], config.embed_dims[INSTRUMENT])
        self.instrument_proj = nn.Linear(d + config.embed_dims[INSTRUMENT], d)
        self.heads = nn.ModuleList(nn.Linear(d, n) for n in config.vocab_sizes)
        self.apply(self._init)
        with torch.no_grad():  # start as "ignore the instrument", so weights of a two-stage model load as a warm start
            self.instrument_proj.weight.zero_()
            self.instrument_proj.weight[:, :d].copy_(torch.eye(d))
        for module in self.modules():  # weights stored input-major: a one-token step reads them in memory order (1.3x faster on a CPU)
            if isinstance(module, nn.Linear):
                module.weight = nn.Parameter(module.weight.detach().t().contiguous().t())

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def n_params(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch: int = 1) -> KVCache:
        """An empty :class:`KVCache` for ``batch`` sequences, on the model's device and dtype."""
        c, p = self.config, next(self.parameters())
        shape = (c.n_layer, 2, batch, c.n_head, c.context, c.d_model // c.n_head)
        return KVCache(torch.zeros(shape, device=p.device, dtype=p.dtype))

    def hidden(self, tokens: torch.Tensor, time: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Hidden states (B, T, d) of tokens (B, T, fields).

        ``time`` (B, T) is the carried beat-timing index of each token. With a
        ``cache``, the tokens follow the ``cache.length`` cached ones: only
        they are computed, and their keys and values are appended.
        """
        start, t = (cache.length if cache is not None else 0), tokens.shape[1]
        if start + t > self.config.context:
            msg = f"{start + t} positions do not fit the model's context of {self.config.context}"
            raise ValueError(msg)
        x = self.in_proj(torch.cat([embed(tokens[..., i]) for i, embed in enumerate(self.embeds)], dim=-1))
        positions = torch.arange(start, start + t, device=tokens.device)
        x = self.drop(x + self.position(positions) + self.time(time))
        for i, block in enumerate(self.blocks):
            x = block(x, cache.kv[i] if cache is not None else None, start)
        if cache is not None:
            cache.length += t
        return self.norm(x)

    def type_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (..., n_types) of the next token's type."""
        return self.heads[TYPE](h)

    def field_logits(
        self, h: torch.Tensor, next_type: torch.Tensor, next_instrument: torch.Tensor, fields: tuple[int, ...] | None = None
    ) -> list[torch.Tensor | None]:
        """Logits of every field but ``type`` (None in its place), given the next token's type and instrument.

        Only ``pitch`` and ``duration`` depend on ``next_instrument``. With
        ``fields``, only those are computed (the others are None): a sampler
        needs a few heads per step.
        """
        wanted = set(fields) if fields is not None else set(range(len(self.heads))) - {TYPE}
        g = self.type_proj(torch.cat([h, self.type_embed(next_type)], dim=-1))
        n = self.instrument_proj(torch.cat([g, self.instrument_embed(next_instrument)], dim=-1)) if wanted & {PITCH, DURATION} else None
        return [head(n if i in (PITCH, DURATION) else g) if i in wanted else None for i, head in enumerate(self.heads)]

    def loss(self, tokens: torch.Tensor, time: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss, per-field mean losses (fields,)) of predicting tokens[:, 1:] from tokens[:, :-1].

        ``mask`` (B, T) marks real (non-padding) target tokens, aligned with tokens[:, 1:].
        """
        h = self.hidden(tokens[:, :-1], time[:, :-1])
        target = tokens[:, 1:]
        logits = self.field_logits(h, target[..., TYPE], target[..., INSTRUMENT])
        logits[TYPE] = self.type_logits(h)
        weight = mask.float() / mask.float().sum().clamp(min=1)
        per_field = torch.stack(
            [(F.cross_entropy(lg.flatten(0, 1).float(), target[..., i].flatten(), reduction="none") * weight.flatten()).sum()
             for i, lg in enumerate(logits)]
        )
        return per_field.sum(), per_field.detach()



def resolve_device(device: str) -> torch.device:
    """The torch device for ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``.

    Raises
    ------
    ConfigError
        ``cuda`` without a CUDA GPU, or another name.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        msg = "device cuda: no CUDA GPU is available"
        raise ConfigError(msg)
    if device not in {"cpu", "cuda"}:
        msg = f"device must be auto, cpu or cuda (got {device!r})"
        raise ConfigError(msg)
    return torch.device(device)


def default_model_path() -> Path:
    """The model used when none is named: ``$CMTLITE_MODEL`` if set, else the shipped one."""
    return Path(os.environ.get(MODEL_ENV) or MODEL_PATH)


_FORMAT = "cmtlite-cp-transformer-1"


def save_model(model: CPTransformer, path: Path, *, metadata: dict[str, str] | None = None, dtype: torch.dtype = torch.float16) -> None:
    """Write the weights as safetensors (``dtype``) with the config (and ``metadata``) in the header."""
    tensors = {name: t.detach().to("cpu", dtype).contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": _FORMAT, "config": model.config.to_json(), **(metadata or {})})


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[CPTransformer, dict[str, str]]:
    """(model in eval mode with float32 weights, header metadata) from a :func:`save_model` file.

    Raises
    ------
    ConfigError
        Missing, corrupt or foreign file, or weights that do not fit the config.
    """
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            if metadata.get("format") != _FORMAT:
                msg = f"{path}: not a cmtlite model (no '{_FORMAT}' header)"
                raise ConfigError(msg)
            weights = {name: fh.get_tensor(name).float() for name in fh.keys()}  # noqa: SIM118 - safe_open has no iterator
        model = CPTransformer(ModelConfig.from_dict(json.loads(metadata["config"])))
        model.load_state_dict(weights)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as err:
        msg = f"{path}: cannot load model ({err.__class__.__name__}: {' '.join(str(err).split())[:200]})"
        raise ConfigError(msg) from err
    return model.to(device).eval(), metadata
