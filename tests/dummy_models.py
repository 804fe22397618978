"""Test-only models that exercise every contract extension through the Trainer (registered only when this module is imported).

`_dummy_two_phase` is shaped like DualContrast: a main pass (VAE loss on all parameters, one optimiser) and a second,
encoder-only pass requested through `ctx.forward(..., phase="encoder_step")` with its own optimiser and a per-step LR
schedule; a Gaussian pose-like latent with a non-unit prior σ; a loss term that many batches lack (labelled pairs); a
deterministic term whose count-weighted epoch mean is known; and a step counter it keeps itself (`get_extra_state`)
that changes its training, so a resume that lost it would end with other weights.
"""
import math
import torch
from torch import nn
from dataclasses import dataclass
from cryo_disent.training import distributed
from cryo_disent.core import ModelOutput
from cryo_disent.models.base import BaseModel, ModelConfig, kl_normal, recon_loss
from cryo_disent.models.schedules import make_lr_scheduler
from cryo_disent.models.registry import register


@dataclass
class TwoPhaseConfig(ModelConfig):
    hidden: int = 16
    n_classes: int = 0  # filled by config_from_data
    rot_prior_sigma: float = math.pi / 2  # 3D-SpVAE's s_θ


@register("_dummy_two_phase")
class TwoPhase(BaseModel):
    "Test scaffolding: two forward phases, two optimisers, counted terms, extra state."
    config_cls = TwoPhaseConfig
    tiny_overrides = dict(hidden=8)
    loss_terms = ("recon", "kl", "kl_rot", "pair", "cycle")
    log_keys = ("labelled_mean",)  # logged with its own count, not part of the loss
    pose_keys = ("rotation_params",)
    demo_training = dict(full=dict(epochs=2, model_config=dict(hidden=16)), quick=dict(epochs=1, model_config=dict(hidden=8)))
    find_unused_parameters = True  # the encoder-only second pass leaves the decoder out of its graph

    def __init__(self, config=None, **kw):
        super().__init__(config, **kw)
        c = self.config
        n = math.prod(c.input_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n, c.hidden), nn.Tanh(), nn.Linear(c.hidden, 4 * c.latent_dim))
        self.decoder = nn.Linear(2 * c.latent_dim, n)
        self.steps_taken = 0  # stepped by the model itself; checkpointed through get_extra_state

    def get_extra_state(self):
        return {"steps_taken": self.steps_taken}

    def set_extra_state(self, state):
        self.steps_taken = int(state["steps_taken"])

    def encode(self, x):
        mu, lv, rmu, rlv = self.encoder(x).chunk(4, dim=1)
        return dict(content=mu, content_logvar=lv, rotation_params=rmu, rotation_params_logvar=rlv)

    def decode(self, lat):
        h = torch.cat([lat["content"], lat.get("rotation_params", torch.zeros_like(lat["content"]))], 1)
        return self.decoder(h).view(-1, *self.config.input_shape)

    def forward_encoder_step(self, batch, epoch=0):
        "Second pass: re-encode the (detached) canonical-pose decoding; only the encoder learns from it."
        lat = self.encode(batch["x"])
        with torch.no_grad():
            y = self.decode({"content": lat["content"].detach()})
        return dict(content=lat["content"], again=self.encode(y)["content"])

    def loss(self, batch, out, epoch=0):
        rec = recon_loss(out["x_hat"], batch["x"], "mse", self.batch_transfer(batch))
        kl = kl_normal(out["content"], out["content_logvar"])
        kl_rot = kl_normal(out["rotation_params"], out["rotation_params_logvar"], self.config.rot_prior_sigma)
        y = distributed.gather_rows(batch["label"])  # pairs over the global batch (every process the same term)
        z = distributed.gather_rows(out["content"])
        same = (y[:, None] == y[None, :]) & (y[:, None] >= 0) & torch.ones(len(y), len(y), dtype=torch.bool, device=y.device).triu(1)
        i, j = same.nonzero(as_tuple=True)
        cos = nn.functional.cosine_similarity(z[i], z[j], dim=-1)
        pair = (1 - cos).mean() if len(i) else out["content"].sum() * 0
        y = batch["label"]
        lab = y >= 0
        lab_mean = y[lab].double().mean() if lab.any() else torch.zeros((), dtype=torch.float64)
        terms = dict(recon=rec, kl=kl, kl_rot=kl_rot, pair=pair)
        counts = dict(pair=len(i), labelled_mean=int(lab.sum()))
        return ModelOutput(rec + kl + kl_rot + pair, terms, counts=counts, logs=dict(labelled_mean=lab_mean))

    def cycle_loss(self, out):
        return (out["again"] - out["content"].detach()).pow(2).sum(1).mean() / (1 + 0.1 * self.steps_taken)

    def configure_optimizers(self):
        return [torch.optim.Adam(self.parameters(), lr=self.config.lr),
                torch.optim.Adam(self.encoder.parameters(), lr=self.config.lr)]

    def configure_schedulers(self, optimizers, epochs, steps_per_epoch=1):
        return [make_lr_scheduler(optimizers[0], self.config.lr_schedule, epochs, steps_per_epoch),
                make_lr_scheduler(optimizers[1], dict(kind="cosine", interval="step"), epochs, steps_per_epoch)]

    def training_step(self, batch, ctx):
        mo = self.main_step(batch, ctx, ctx.optimizers[:1])
        ctx.optimizers[1].zero_grad(set_to_none=True)
        out2 = ctx.forward(batch, epoch=ctx.epoch, phase="encoder_step")  # through the DDP wrapper: gradients synchronised
        cyc = self.cycle_loss(out2)
        ctx.backward(cyc)
        ctx.optimizers[1].step()
        self.steps_taken += 1
        return ModelOutput(mo.loss.detach() + cyc.detach(), {**mo.terms, "cycle": cyc.detach()}, counts=mo.counts, logs=mo.logs)
