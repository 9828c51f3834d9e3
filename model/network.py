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
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.checkpoint import Checkpoint, ModelLoadError, load
from model.features import MAX_SLOT, N_TRACKS, SequenceFeatures
from model.history import (
    N_AGE,
    N_RECENCY,
    N_SEEN,
    History,
    HistoryArrays,
    feed,
    history_arrays,
    score_candidates,
    single_step,
)
from model.metrics import Forecast
from model.predictor import N_SLOTS, VALUE_FIELDS, Predictions, Rollout
from model.timeline import SOURCE_KINDS

N_KINDS = 6  # 0 inactive + the five source kinds
N_VALUES = len(VALUE_FIELDS)
HEADS = (("event", 3), ("active", 2), ("asset", N_SLOTS), ("recency", N_RECENCY), ("values", N_VALUES), ("delta", N_VALUES))
NONE, MOVE, CUT = 0, 1, 2  # event classes
MOVE_START = 0.2  # rollouts: the least P(move) that lets a still shot start moving
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.safetensors"
FORMAT = 3  # the input features and heads; a checkpoint of another format cannot be used
# Which manifest statistic normalises each value field (per parameter type, active cells only: F3).
STAT_OF_FIELD = ("scale", "pos_x", "pos_y", "crop", "crop", "crop", "crop")


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


@dataclass
class Norm:
    """Per-parameter-type statistics over active cells; in-shot changes in units of their median size.

    `delta_log`: the delta head works on a signed log of those units, since the moves it learns
    range from a slow zoom (1 unit) to a punch-in (100): on a linear scale the punch-ins' Huber
    loss would swamp every other component. Checkpoints from before it have a linear delta head.
    """

    mean: list[float] = field(default_factory=lambda: [100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    std: list[float] = field(default_factory=lambda: [1.0] * N_VALUES)
    delta: list[float] = field(default_factory=lambda: [1.0] * N_VALUES)
    delta_log: bool = False

    @classmethod
    def from_manifest(cls, stats: dict, delta: list[float]) -> Norm:
        mean = [float(stats[k]["mean"]) for k in STAT_OF_FIELD]
        std = [max(float(stats[k]["std"]), 1e-3) for k in STAT_OF_FIELD]
        return cls(mean=mean, std=std, delta=delta, delta_log=True)

    def delta_target(self, change: np.ndarray) -> np.ndarray:
        """The delta head's target for per-step value changes (..., 7) in physical units."""
        x = change / np.asarray(self.delta, np.float32)
        return np.sign(x) * np.log1p(np.abs(x)) if self.delta_log else x

    def delta_change(self, head: np.ndarray, snap: bool = False) -> np.ndarray:
        """Physical per-step value changes from the delta head's output (the inverse of delta_target).

        `snap`: changes under half a typical change become 0. In a move most fields stay put (a
        punch-in leaves the crop alone) and a regression never says exactly 0; as a point forecast
        under absolute error, "this field does not move" is the better call for such small values.
        """
        x = np.sign(head) * np.expm1(np.abs(head)) if self.delta_log else head
        if snap:
            x = np.where(np.abs(x) < 0.5, 0.0, x)
        return x * np.asarray(self.delta, np.float32)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32), np.asarray(self.delta, np.float32))


# ---------------------------------------------------------------- numpy side: inputs and targets


def encode_inputs(
    grid: np.ndarray, kind: np.ndarray, hist: HistoryArrays, norm: Norm, prev: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Model inputs of steps (..., T, 20, 9) with their history features; leading dims are kept.

    `prev` (..., 20, 9) is the step before the first one (None: the sequence starts here), for the
    per-step motion of values inside a shot (too small to see in the normalised values): a flag
    per track and a signed log of each value's change in units of its typical change.
    """
    mean, std, dscale = norm.arrays()
    active = grid[..., 0] > 0.5
    values = np.where(active[..., None], np.clip((grid[..., 2:] - mean) / std, -10, 10), 0.0)
    step = velocity(grid, hist.cut, prev) / dscale
    motion = np.concatenate([np.any(step != 0, axis=-1, keepdims=True), np.sign(step) * np.log1p(np.abs(step))], axis=-1)
    return {
        "active": active.astype(np.float32),
        "values": values.astype(np.float32),
        "motion": motion.astype(np.float32),
        "slot": np.where(active, grid[..., 1].astype(np.int64) + 1, 0),
        "kind": kind.astype(np.int64),
        "recency": hist.recency.astype(np.int64) + 1,
        "seen": hist.seen.astype(np.int64),
        "age": hist.age.astype(np.int64),
        "age_any": hist.age_any.astype(np.int64),
    }


def velocity(grid: np.ndarray, cut: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    """Per-step change of the 7 values inside a shot (..., T, 20, 7); 0 at cuts and when off."""
    before = np.zeros_like(grid[..., :1, :, :]) if prev is None else prev[..., None, :, :]
    previous = np.concatenate([before, grid[..., :-1, :, :]], axis=-3)
    inside = ((grid[..., 0] > 0.5) & (previous[..., 0] > 0.5) & ~cut)[..., None]
    return np.where(inside, grid[..., 2:] - previous[..., 2:], 0.0)


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
        return (
            self.cont_proj(cont)
            + self.slot_emb(x["slot"])
            + self.kind_emb(x["kind"])
            + self.recency_emb(x["recency"])
            + self.seen_emb(x["seen"])
            + self.age_emb(x["age"])
            + self.track_emb
        )  # (B, T, 20, dt)

    def forward(self, x: dict[str, torch.Tensor], past: list | None = None, start: int = 0):
        """Head outputs {name: (B, T, 20, n)} and each layer's (k, v) for incremental decoding.

        `past` holds the cache of earlier steps (positions start - len .. start - 1).
        """
        tok = self.embed_tracks(x)
        B, T = tok.shape[:2]
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


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class NetworkPredictor:
    """The network behind the `Predictor` protocol: numpy in, physical units out."""

    name = "mtt"

    def __init__(
        self, model: MultiTrackTransformer, norm: Norm, step_seconds: Fraction, version: str, sha256: str, event_shift: float = 0.0
    ) -> None:
        self.model = model.eval()
        self.norm = norm
        self.event_shift = event_shift  # see calibrate()
        self.step_seconds = Fraction(step_seconds)
        self.version = version
        self.sha256 = sha256

    # -- teacher-forced outputs

    def outputs(self, feats: SequenceFeatures) -> dict[str, np.ndarray]:
        """Head outputs (T, 20, n) for every step; long sequences go in chunks with the cache."""
        self._check_step(feats)
        hist = history_arrays(feats.grid, feats.source_index)
        x = encode_inputs(feats.grid[None], feats.source_kind[None], _batch(hist), self.norm)
        chunk = self.model.cfg.context
        parts: list[dict[str, np.ndarray]] = []
        cache = None
        with torch.inference_mode():
            for a in range(0, feats.steps, chunk):
                xs = to_torch({k: v[:, a : a + chunk] for k, v in x.items()})
                out, cache = self.model(xs, past=cache, start=a)
                cache = self.model.trim(cache)
                parts.append({k: v[0].numpy() for k, v in out.items()})
        if not parts:
            return {name: np.zeros((0, N_TRACKS, n), np.float32) for name, n in HEADS}
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self.calibrate(out, feats.grid[..., 0] > 0.5)

    def calibrate(self, out: dict[str, np.ndarray], active: np.ndarray) -> dict[str, np.ndarray]:
        """Undo a known prior shift of the cut logit of empty tracks (logit adjustment).

        A checkpoint trained with empty-track cells split by their state at t+1 (format 3 before
        the split moved to the state at t) weighted "an empty track switches on" by about
        N_idle / N_live; `event_prior_shift` in its JSON is log of that ratio on its training
        data, 0 for checkpoints trained since.
        """
        if self.event_shift:
            event = out["event"].copy()
            event[..., CUT] -= self.event_shift * ~active
            out = {**out, "event": event}
        return out

    def predict(self, feats: SequenceFeatures) -> Predictions:
        return self.marginal(feats, self.outputs(feats))

    def marginal(self, feats: SequenceFeatures, out: dict[str, np.ndarray]) -> Predictions:
        """Mix "nothing changes" (the current state) with "after a cut" by the event head."""
        mean, std, _ = self.norm.arrays()
        grid = feats.grid
        event = softmax(out["event"])
        p_cut = event[..., CUT]
        active_now = grid[..., 0] > 0.5
        p_on_after_cut = softmax(out["active"])[..., 1]
        p_active = p_cut * p_on_after_cut + (1 - p_cut) * active_now
        after_cut = softmax(out["asset"])
        current = np.eye(N_SLOTS, dtype=np.float32)[grid[..., 1].astype(np.int64).clip(0, MAX_SLOT)]
        stay = ((1 - p_cut) * active_now)[..., None]
        mixed = stay * current + (p_cut * p_on_after_cut)[..., None] * after_cut
        asset = np.where(active_now[..., None], mixed / np.maximum(mixed.sum(-1, keepdims=True), 1e-9), after_cut)
        # Values as a decision: under absolute error the best point forecast is the median, which
        # stays at the current values unless one kind of change is likelier than not. So: the
        # cut's values if P(cut) >= 1/2; the shot's current velocity (keyframes are linear between
        # keys) or, when it starts to move, the delta head if P(move) > 1/2; else the current values.
        # (The most likely of the three events is not enough: a move at 40 % against "nothing" at
        # 35 % is still a jump that does not happen 60 % of the time.)
        cut_values = out["values"] * std + mean
        moving = (event[..., MOVE] > 0.5)[..., None]
        speed = velocity(grid, history_arrays(grid, feats.source_index).cut)
        kept_values = grid[..., 2:] + np.where(moving, _motion(speed, out["delta"], self.norm, snap=True), 0.0)
        keep = (active_now & (p_cut < 0.5))[..., None]
        return Predictions(
            p_active=p_active.astype(np.float32),
            asset_probs=asset.astype(np.float32),
            values=np.where(keep, kept_values, cut_values).astype(np.float32),
            p_change=(1 - event[..., NONE]).astype(np.float32),
        )

    def forecast(self, feats: SequenceFeatures, out: dict[str, np.ndarray] | None = None) -> Forecast:
        """What the network expects at a cut (for the evaluation's 'after the change' metrics)."""
        out = self.outputs(feats) if out is None else out
        mean, std, _ = self.norm.arrays()
        grid = feats.grid
        event = softmax(out["event"])
        p_active_cut = softmax(out["active"])[..., 1]
        # Given that the track changes: a cut if the event head finds it likelier than a move
        # (an empty track can only cut, i.e. switch on), else the shot's motion.
        active_now = grid[..., 0] > 0.5
        cut = ~active_now | (event[..., CUT] >= event[..., MOVE])
        speed = velocity(grid, history_arrays(grid, feats.source_index).cut)
        moved = grid[..., 2:] + _motion(speed, out["delta"], self.norm)
        return Forecast(
            p_cut=event[..., CUT],
            p_active_cut=p_active_cut,
            slot_probs=softmax(out["asset"]),
            recency_probs=softmax(out["recency"]),
            p_active_change=np.where(cut, np.where(active_now, p_active_cut, 1.0), 1.0).astype(np.float32),
            values_change=np.where(cut[..., None], out["values"] * std + mean, moved).astype(np.float32),
        )

    # -- generation

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int, *, seed: int = 0, sample: bool = True) -> Rollout:
        """Continue the edit after steps 0..start-1, one step at a time through the key/value cache.

        Each track draws its event (nothing / values move / cut) and, at a cut, whether it shows
        something and which concrete source (slot x recency over the sources the past offers);
        `sample=False` takes the most likely choice instead. Deterministic for a given seed.
        """
        self._check_step(feats)
        if not 0 <= start <= feats.steps:
            raise ValueError(f"rollout start {start} outside 0..{feats.steps}")
        rng = np.random.default_rng(seed)
        hist = History()
        grid, src, kind = feats.grid[:start], feats.source_index[:start], feats.source_kind[:start]
        if start == 0:  # nothing before: start from an empty step
            grid, src, kind = np.zeros((1, N_TRACKS, 9), np.float32), np.full((1, N_TRACKS), -1), np.zeros((1, N_TRACKS), np.int8)
        arrays = feed(hist, grid, src)
        keep = min(len(grid), self.model.cfg.context)
        prev = grid[None, -keep - 1] if len(grid) > keep else None
        x = encode_inputs(grid[None, -keep:], kind[None, -keep:], _batch(arrays, -keep), self.norm, prev)
        out_grid = np.zeros((n_steps, N_TRACKS, 9), np.float32)
        out_src = np.full((n_steps, N_TRACKS), -1, np.int32)
        conf = np.zeros((n_steps, N_TRACKS), np.float32)
        pos = len(grid) - keep
        speed = velocity(grid[-2:], arrays.cut[-2:])[-1]
        with torch.inference_mode(), _one_thread():
            out, cache = self.model(to_torch(x), start=pos)
            pos += keep
            for n in range(n_steps):
                last = self.calibrate({k: v[0, -1].numpy() for k, v in out.items()}, hist.active)
                row, srow, krow, conf[n] = self._choose(last, hist, feats, rng, sample, speed)
                out_grid[n] = row
                out_src[n] = np.where(srow < len(feats.sources), srow, -1)
                if n == n_steps - 1:
                    break
                last = np.concatenate([hist.active[:, None], np.zeros((N_TRACKS, 1)), hist.values], axis=1)
                st = hist.step(row[:, 0] > 0.5, srow, row[:, 2:])
                speed = velocity(row[None], st.cut[None], last)[0]
                x = encode_inputs(row[None, None], krow[None, None], single_step(st), self.norm, last[None])
                out, cache = self.model(to_torch(x), past=self.model.trim(cache), start=pos)
                pos += 1
        return Rollout(grid=out_grid, source_index=out_src, confidence=conf)

    def _choose(self, out, hist: History, feats: SequenceFeatures, rng, sample: bool, speed: np.ndarray):
        """One generated step: grid row (20, 9), source indices, kinds and confidences.

        Events are drawn for all tracks at once; only tracks that cut visit Python one by one.
        """
        mean, std, _ = self.norm.arrays()
        was_on = hist.active
        event = softmax(out["event"]) * np.where(was_on[:, None], 1.0, [1.0, 0.0, 1.0])  # an empty track cannot move
        # A still shot starts to move only when that is a real option: a moving shot keeps moving
        # (the network learned that), so one unlikely draw would otherwise drift for the whole rollout.
        still = ~np.any(speed != 0, axis=-1)
        event[still & (event[:, MOVE] < MOVE_START), MOVE] = 0.0
        event /= event.sum(-1, keepdims=True)
        ev = _draw(event, rng, sample)
        conf = event[np.arange(N_TRACKS), ev].astype(np.float32)
        keep = was_on & (ev != CUT)
        row = np.zeros((N_TRACKS, 9), np.float32)
        srow = np.where(keep, hist.src, -1)
        row[keep, 0], row[keep, 1] = 1.0, np.minimum(srow[keep], MAX_SLOT)
        row[keep, 2:] = hist.values[keep] + np.where((ev == MOVE)[keep, None], _motion(speed, out["delta"], self.norm)[keep], 0.0)
        on, slots, recency = softmax(out["active"])[:, 1], softmax(out["asset"]), softmax(out["recency"])
        for i in np.flatnonzero(ev == CUT):
            p_on = np.array([1 - on[i], on[i]]) if was_on[i] else np.array([0.0, 1.0])
            show = int(_draw(p_on[None], rng, sample)[0])
            conf[i] *= p_on[show]
            if not show:
                continue
            cands = [c for c in hist.candidates(i) if c[0] != hist.src[i]]
            scores = score_candidates(cands, slots[i], recency[i])
            scores = scores / max(scores.sum(), 1e-12)
            c = int(_draw(scores[None], rng, sample)[0])
            conf[i] *= scores[c]
            srow[i] = cands[c][0]
            row[i, 0], row[i, 1], row[i, 2:] = 1.0, min(srow[i], MAX_SLOT), out["values"][i] * std + mean
        krow = np.array([_kind_code(feats, int(s)) if s >= 0 else 0 for s in srow])
        return row, srow, krow, conf

    def _check_step(self, feats: SequenceFeatures) -> None:
        if Fraction(feats.step_seconds) != self.step_seconds:
            raise ValueError(f"the model works on {self.step_seconds} s steps, the features have {feats.step_seconds} s")


def _motion(speed: np.ndarray, delta: np.ndarray, norm: Norm, snap: bool = False) -> np.ndarray:
    """The next step's change of a moving shot: its velocity, or the delta head's when it was still."""
    moving = np.any(speed != 0, axis=-1, keepdims=True)
    return np.where(moving, speed, norm.delta_change(delta, snap))


@contextmanager
def _one_thread():
    """Single-step decoding is bound by per-op overhead: a second thread only adds synchronisation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _draw(p: np.ndarray, rng: np.random.Generator, sample: bool) -> np.ndarray:
    """One index per row of probabilities (n, k): sampled, or the most likely."""
    if not sample:
        return np.argmax(p, axis=-1)
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((np.cumsum(p, axis=-1) < u * p.sum(-1, keepdims=True)).sum(-1), p.shape[-1] - 1)


def _kind_code(feats: SequenceFeatures, index: int) -> int:
    """Kind code of a source; a source the timeline does not know yet counts as a file."""
    if 0 <= index < len(feats.sources):
        return 1 + SOURCE_KINDS.index(feats.sources[index].kind)
    return 1


def _batch(hist: HistoryArrays, tail: int | None = None) -> HistoryArrays:
    """(T, ...) history arrays as a batch of one, optionally only the last -tail steps."""
    sl = slice(tail, None)
    return HistoryArrays(**{k: getattr(hist, k)[sl][None] for k in ("cut", "change", "recency", "seen", "age", "age_any")})


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
    return NetworkPredictor(model, norm, Fraction(ckpt.meta["step_seconds"]), version, ckpt.sha256, shift)


def load_predictor(path: str | Path | None = None) -> NetworkPredictor:
    """The bundled default model (None), a .safetensors file, or a run folder's best checkpoint."""
    return predictor_from_checkpoint(load(DEFAULT_WEIGHTS if path is None else path))
