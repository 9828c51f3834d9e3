"""The Multi-Track Transformer: causal next-step prediction over steps x 20 tracks.

Each step is 20 track tokens (active, normalised values, source slot, source kind, source recency,
shot age) embedded and flattened into one d_model vector; a causal transformer with rotary
positions reads the steps; a nonlinear per-track decoder sees the step's context *and* the track's
own token, so two tracks at the same step get different predictions (the reference run could only
shift them by a constant: ml-notes F2). Row t predicts step t+1 (F1: the target is never the input).

Changes are rare (about 3 % of steps), so the output is factorised:
  event   3-way: nothing / values move / cut (the (active, source) pair changes) at t+1
  active, asset (slot), recency, values   what the track shows *after a cut* (trained on cuts only)
  delta   how a shot's values move when they do (trained on moves only: most steps of a shot are
          still, and a head trained on all of them learns "no motion" and is no use after a move is decided)
so a model can be sure nothing happens and still say precisely what comes after a cut.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.features.grid import N_TRACKS
from model.features.history import N_AGE, N_RECENCY, N_SEEN, HistoryArrays
from model.features.own_past import own_past_gate
from model.features.own_past_inputs import N_OWN
from model.inference.checkpoint import Checkpoint
from model.inference.decoding import (  # noqa: F401 - Norm, encode_inputs and the event classes are part of this module's interface
    CUT,
    HEADS,
    MOVE,
    MOVE_START,
    N_VALUES,
    NONE,
    STAT_OF_FIELD,
    Decoder,
    Norm,
    encode_inputs,
    velocity,
)
from model.inference.model_files import ModelLoadError
from model.inference.predictor import N_SLOTS

N_KINDS = 6  # 0 inactive + the five source kinds
FORMAT = 3  # the input features and heads; a checkpoint of another format cannot be used


@dataclass
class NetConfig:
    d_model: int = 256
    n_layer: int = 4
    n_head: int = 8
    d_ff: int = 512
    d_track: int = 32  # per-track token width (20 of them are flattened into d_model)
    d_dec: int = 64  # per-track decoder width
    context: int = 256  # attention span in steps (the training window)
    dropout: float = 0.0  # the corpus is large next to what a CPU budget can read; attention dropout forces a slow path
    own_past_inputs: bool = False  # the own-past statistics as inputs (model.features.own_past_inputs; issue 18)


# ---------------------------------------------------------------- numpy side: targets


def encode_targets(grid: np.ndarray, hist: HistoryArrays, valid: np.ndarray, norm: Norm) -> dict[str, np.ndarray]:
    """Targets for rows 0..T-2 of (..., T, ...) arrays: row t is about step t+1. `valid` (..., T-1)."""
    mean, std, _ = norm.arrays()
    now, nxt = grid[..., :-1, :, :], grid[..., 1:, :, :]
    cut, change = hist.cut[..., 1:, :], hist.change[..., 1:, :]
    event = np.where(cut, CUT, np.where(change, MOVE, NONE))
    active_now, active_next = now[..., 0] > 0.5, nxt[..., 0] > 0.5
    return {
        "valid": valid.astype(bool),
        "event": event.astype(np.int64),
        "active": active_next.astype(np.int64),
        "asset": nxt[..., 1].astype(np.int64),
        "recency": np.maximum(hist.recency[..., 1:, :], 0).astype(np.int64),
        "values": ((nxt[..., 2:] - mean) / std).astype(np.float32),
        "delta": norm.delta_target(nxt[..., 2:] - now[..., 2:]).astype(np.float32),
        "cut": cut,
        "live": active_now,
        "moving": active_now & active_next & ~cut & change,
    }


# ---------------------------------------------------------------- torch modules


def rotary_angles(pos: torch.Tensor, head_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (T, hs) of rotary position embedding (Su et al. 2021, arxiv 2104.09864), each half repeated."""
    half = head_size // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=pos.device) / half)
    ang = pos.to(torch.float32)[:, None] * freq[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def rotary(x: torch.Tensor, angles: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Rotate x (..., T, hs) by its positions' angles: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).

    Few operations on purpose: decoding one step at a time is bound by per-operation overhead.
    """
    cos, sin = angles
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


def band_mask(n_new: int, n_past: int, span: int, device: torch.device) -> torch.Tensor | None:
    """Boolean mask (n_new, n_past + n_new): causal, and at most `span` steps back (None = plain causal)."""
    total = n_past + n_new
    if total <= span and (n_past == 0 or n_new == 1):
        return None  # plain causal (no past) or one new step that may see everything cached
    q = torch.arange(n_past, total, device=device)[:, None]
    k = torch.arange(total, device=device)[None, :]
    return (k <= q) & (k > q - span)


class SelfAttention(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x, angles, mask, past):
        B, T, C = x.shape
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        qk = rotary(qkv[:2], angles)  # q and k in one go
        q, k, v = qk[0], qk[1], qkv[2]
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and past is None, dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y), (k, v)


class Block(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model), nn.Dropout(cfg.dropout))

    def forward(self, x, angles, mask, past):
        a, kv = self.attn(self.ln_1(x), angles, mask, past)
        x = x + a
        return x + self.mlp(self.ln_2(x)), kv


class MultiTrackTransformer(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dt = cfg.d_track
        self.slot_emb = nn.Embedding(N_SLOTS + 1, dt)  # 0 = inactive
        self.kind_emb = nn.Embedding(N_KINDS, dt)
        self.recency_emb = nn.Embedding(N_RECENCY + 1, dt)  # 0 = inactive
        self.seen_emb = nn.Embedding(N_SEEN, dt)
        self.age_emb = nn.Embedding(N_AGE, dt)
        self.track_emb = nn.Parameter(torch.zeros(N_TRACKS, dt))
        self.cont_proj = nn.Linear(2 + 2 * N_VALUES, dt)  # active, values, moved, motion
        self.in_proj = nn.Linear(N_TRACKS * dt, cfg.d_model)
        self.age_any_emb = nn.Embedding(N_AGE, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        # Per-track decoder: nonlinear in (step context, the track's own token).
        self.dec_ctx = nn.Linear(cfg.d_model, cfg.d_dec)
        self.dec_track = nn.Linear(dt, cfg.d_dec, bias=False)
        self.dec_hidden = nn.Linear(cfg.d_dec, cfg.d_dec)
        self.heads = nn.Linear(cfg.d_dec, sum(n for _, n in HEADS))
        self.apply(self._init)
        nn.init.normal_(self.track_emb, std=0.02)
        if cfg.own_past_inputs:
            self.add_own_past_inputs()

    def add_own_past_inputs(self) -> None:
        """The projection of the own-past inputs into each track token, zero at first: a network
        fine-tuned with them starts from the same outputs as without."""
        self.cfg.own_past_inputs = True
        self.own_proj = nn.Linear(N_OWN, self.cfg.d_track)
        nn.init.zeros_(self.own_proj.weight)
        nn.init.zeros_(self.own_proj.bias)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed_tracks(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        cont = torch.cat([x["active"][..., None], x["values"], x["motion"]], dim=-1)
        tok = (
            self.cont_proj(cont)
            + self.slot_emb(x["slot"])
            + self.kind_emb(x["kind"])
            + self.recency_emb(x["recency"])
            + self.seen_emb(x["seen"])
            + self.age_emb(x["age"])
            + self.track_emb
        )  # (B, T, 20, dt)
        return tok + self.own_proj(x["own_past"]) if self.cfg.own_past_inputs else tok

    def forward(self, x: dict[str, torch.Tensor], past: list | None = None, start: int = 0):
        """Head outputs {name: (B, T, 20, n)} and each layer's (k, v) for incremental decoding.

        `past` holds the cache of earlier steps (positions start - len .. start - 1).
        """
        tok = self.embed_tracks(x)
        T = tok.shape[1]
        h = self.drop(self.in_proj(tok.flatten(2)) + self.age_any_emb(x["age_any"]))  # (B, T, d)
        n_past = 0 if past is None else past[0][0].shape[2]
        pos = torch.arange(start, start + T, device=h.device)
        angles = rotary_angles(pos, self.cfg.d_model // self.cfg.n_head)
        mask = band_mask(T, n_past, self.cfg.context, h.device)
        cache = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, angles, mask, None if past is None else past[i])
            cache.append(kv)
        h = self.ln_f(h)
        z = F.gelu(self.dec_ctx(h)[:, :, None, :] + self.dec_track(tok))
        z = F.gelu(self.dec_hidden(z))
        out = self.heads(z).split([n for _, n in HEADS], dim=-1)
        return dict(zip((name for name, _ in HEADS), out)), cache

    def trim(self, cache: list) -> list:
        """Keep the last context-1 steps: the next step may look back `context` steps including itself."""
        keep = self.cfg.context - 1
        return [(k[:, :, -keep:], v[:, :, -keep:]) for k, v in cache]


# ---------------------------------------------------------------- loss


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


# The parts of compute_loss, in the order training logs and the report draw them.
COMPONENTS = ("event", "active", "asset", "recency", "values", "delta")


def compute_loss(out: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of the components; classification by cross-entropy, values by masked Huber (delta 1)."""
    valid = tgt["valid"][..., None].expand_as(tgt["event"])
    live = valid & tgt["live"]
    cut = valid & tgt["cut"]
    shown = cut & (tgt["active"] == 1)
    moving = valid & tgt["moving"]

    def ce(name: str, mask: torch.Tensor) -> torch.Tensor:
        logits = out[name]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[name].reshape(-1), reduction="none")
        return masked_mean(loss.view(mask.shape), mask)

    def huber(name: str, mask: torch.Tensor) -> torch.Tensor:
        loss = F.huber_loss(out[name], tgt[name], reduction="none", delta=1.0).mean(-1)
        return masked_mean(loss, mask)

    parts = {
        # Tracks on at t count as much as all the empty ones together: most of the 20 tracks stay
        # empty, and averaged with them the cut hazard of the tracks in use fades. The split is by
        # the state at t, which the model sees, so each group stays calibrated.
        "event": ce("event", live) + ce("event", valid & ~live),
        "active": ce("active", cut),
        "asset": ce("asset", shown),
        "recency": ce("recency", shown),
        "values": huber("values", shown),
        "delta": huber("delta", moving),
    }
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}


def to_torch(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}



# ---------------------------------------------------------------- the Predictor


class NetworkPredictor(Decoder):
    """The torch network behind the `Predictor` protocol (the decoding is `model.inference.decoding.Decoder`)."""

    backend = "torch"

    def __init__(
        self, model: MultiTrackTransformer, norm: Norm, step_seconds: Fraction, version: str, sha256: str, event_shift: float = 0.0
    ) -> None:
        self.model = model.eval()
        self.norm = norm
        self.event_shift = event_shift  # see Decoder.calibrate
        self.step_seconds = Fraction(step_seconds)
        self.context = model.cfg.context
        self.n_layer = model.cfg.n_layer
        self.own_inputs = model.cfg.own_past_inputs
        self.version = version
        self.sha256 = sha256

    def run(self, x: dict[str, np.ndarray], start: int, cache: list | None):
        out, cache = self.model(to_torch(x), past=cache, start=start)
        return {k: v.numpy() for k, v in out.items()}, cache

    def default_workers(self) -> int:
        """A long pass splits over torch's threads, each part on one (see decoding.ChunkRun)."""
        return torch.get_num_threads()

    def window(self, cache: list, lo: int | None, hi: int | None) -> list:
        return [(k[:, :, lo:hi], v[:, :, lo:hi]) for k, v in cache]

    def scope(self, single_steps: bool) -> AbstractContextManager:
        stack = ExitStack()
        stack.enter_context(torch.inference_mode())
        if single_steps:
            stack.enter_context(_one_thread())
        return stack


@contextmanager
def _one_thread():
    """Single-step decoding is bound by per-op overhead: a second thread only adds synchronisation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- loading


def build(meta: dict) -> tuple[MultiTrackTransformer, Norm]:
    cfg = NetConfig(**meta["config"])
    return MultiTrackTransformer(cfg), Norm(**meta["norm"])


def model_from_checkpoint(ckpt: Checkpoint) -> tuple[MultiTrackTransformer, Norm]:
    """The network with the checkpoint's weights; ModelLoadError when they cannot be used."""
    if ckpt.meta.get("format") != FORMAT:
        raise ModelLoadError(f"{ckpt.path}: network format {ckpt.meta.get('format')}, this mttd reads format {FORMAT}")
    try:
        model, norm = build(ckpt.meta)
        model.load_state_dict(ckpt.weights, strict=True)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ModelLoadError(f"{ckpt.path}: weights do not match their config ({str(err).splitlines()[0]})") from None
    return model, norm


def predictor_from_checkpoint(ckpt: Checkpoint) -> NetworkPredictor:
    model, norm = model_from_checkpoint(ckpt)
    version = str(ckpt.meta.get("version", "unversioned"))
    shift = float(ckpt.meta.get("event_prior_shift", 0.0))
    pred = NetworkPredictor(model, norm, Fraction(ckpt.meta["step_seconds"]), version, ckpt.sha256, shift)
    pred.own_past = own_past_gate(ckpt.meta)
    return pred
