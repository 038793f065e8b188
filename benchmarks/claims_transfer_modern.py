"""Claims judged on peft_glyphs, cdan_moons, logme_glyphs, transfer_speed_glyphs.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The
rules of ``claims.py`` hold here: the only numbers typed are published
numbers (with their citation) and test tolerances; every verdict comes from
a paired test over seeds on the measured accuracies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Claim,
    _ci,
    _seeds,
    combine,
    difference,
    mean_ci,
    verdict_of,
)

HU = "hu2022lora, abstract and Table 2"
HOULSBY = "houlsby2019parameter, abstract"
BEN_ZAKEN = "benzaken2022bitfit, abstract"
ON_PAR = 0.01  # "on par": the paired 95 % CI of (method - FT) stays above -1 point
HOULSBY_GAP = 0.004  # published: within 0.4 % of full fine-tuning
FEWER = 0.1  # "far fewer parameters": below a tenth of fine-tuning's
LORA_RANK = 8  # the rank Hu et al. use for RoBERTa on GLUE
ADAPTER_SIZE = 8  # the smallest bottleneck Houlsby et al. search


def peft_glyphs_claims(result: dict[str, Any]) -> list[Claim]:
    """LoRA, adapters and BitFit against full fine-tuning on glyphs."""
    s = result["settings"]
    seeds = s["seeds"]
    summary = result["summary"]
    regime = (
        f"glyphs, {s['backbone'].split(' (')[0]}, "
        f"{s['target']['train_per_class']} images per class, "
        f"{s['steps']} SGD steps, rates chosen on validation classes, "
        f"{_seeds(result)}"
    )

    def acc(method: str) -> list[float]:
        rows = [r for r in result["rows"] if r["method"] == method]
        by_seed = {r["seed"]: r["accuracy"] for r in rows}
        return [by_seed[k] for k in seeds]

    # the papers' regime: adapting the backbone matters, FT beats the probe
    in_regime = difference(acc("FT"), acc("LP"))
    mean_gap, half_gap = mean_ci(np.subtract(acc("FT"), acc("LP")))

    def against_ft(
        text: str,
        published: str,
        citation: str,
        method: str,
        gap: float,
        why_fail: str,
    ) -> Claim:
        mine, ft = acc(method), acc("FT")
        share = (
            summary[method]["backbone_trainable"] / summary["FT"]["backbone_trainable"]
        )
        on_par = difference(mine, ft, margin=-gap, strict=False)
        fewer = verdict_of(share < FEWER)
        v = combine(on_par, fewer)
        why = ""
        if v == HOLDS and in_regime != HOLDS:
            # matching FT means little where the probe, adapting nothing, does too
            v = INCONCLUSIVE
            why = (
                "outside the claim's regime: fine-tuning does not beat the linear "
                f"probe here (FT − LP {mean_gap:+.4f}, paired 95 % CI ± "
                f"{half_gap:.4f}), so matching FT needs no adaptation of the "
                "backbone at all"
            )
        elif v == INCONCLUSIVE:
            why = (
                f"the seeds' interval of {method} − FT reaches below −{gap:g}: "
                "too few seeds to tell"
            )
        elif v == FAILS:
            why = why_fail if on_par == FAILS else "it trains too many parameters"
        return Claim(
            "ch-transfer",
            text,
            published,
            citation,
            f"{method} {_ci(mine)}, FT {_ci(ft)}; {method} trains "
            f"{summary[method]['backbone_trainable']:,} backbone parameters, "
            f"{100 * share:.1f} % of FT's",
            v,
            regime + f"; on par: paired 95 % CI of the gap above −{gap:g}, "
            f"and fewer than {FEWER:g} of FT's backbone parameters; in the "
            "claim's regime only if FT beats LP (paired 95 % CI above 0)",
            why,
        )

    return [
        against_ft(
            f"LoRA (r = {LORA_RANK}) matches full fine-tuning with far fewer "
            "trainable parameters",
            "on par or better (RoBERTa-base GLUE average 87.2 vs 86.4, "
            "0.3M vs 125M parameters)",
            HU,
            f"LoRA r={LORA_RANK}",
            ON_PAR,
            why_fail="full fine-tuning is clearly better: a small MLP pretrained "
            "for minutes needs more than a low-rank change of its weights",
        ),
        against_ft(
            f"Adapters (bottleneck {ADAPTER_SIZE}) come within 0.4 % of full "
            "fine-tuning",
            "within 0.4 %, with 3.6 % of the parameters per task",
            HOULSBY,
            f"Adapter m={ADAPTER_SIZE}",
            HOULSBY_GAP,
            why_fail="full fine-tuning is better by more than 0.4 points",
        ),
        against_ft(
            "BitFit (biases only) is competitive with full fine-tuning on small data",
            "competitive with (and sometimes better than) fine-tuning",
            BEN_ZAKEN,
            "BitFit",
            ON_PAR,
            why_fail="training the biases alone falls clearly short of fine-tuning",
        ),
    ]


LONG = "long2018conditional, Table 1 (Office-31 average)"
JIN = "jin2020minimum, Table 1 (Office-31 average)"


def cdan_moons_claims(result: dict[str, Any]) -> list[Claim]:
    """CDAN and MCC against DANN on label-shifted moons."""
    s = result["settings"]
    seeds = s["seeds"]

    def acc(condition: str, method: str) -> list[float]:
        rows = [
            r
            for r in result["rows"]
            if r["condition"] == condition and r["method"] == method
        ]
        by_seed = {r["seed"]: r["target_accuracy"] for r in rows}
        return [by_seed[k] for k in seeds]

    regime = (
        f"two moons, target rotated {s['rotation_deg']:g}° with a quarter of "
        f"class 1 kept (label shift), {s['steps']} full-batch Adam steps, "
        f"{_seeds(result)}, paired by seed"
    )

    def above_dann(text: str, published: str, citation: str, method: str) -> Claim:
        mine, dann = acc("label_shift", method), acc("label_shift", "DANN")
        v = difference(mine, dann)
        gap, half = mean_ci(np.subtract(mine, dann))
        return Claim(
            "ch-transfer",
            text,
            published,
            citation,
            f"{method} {_ci(mine)}, DANN {_ci(dann)}; paired gap "
            f"{gap:+.3f} ± {half:.3f}",
            v,
            regime,
            ""
            if v == HOLDS
            else "the seeds do not separate the two: some seeds gain a lot, others lose"
            if v == INCONCLUSIVE
            else f"DANN is better here ({gap:+.3f} ± {half:.3f})",
        )

    return [
        above_dann(
            "CDAN beats DANN when aligning the marginals mixes the classes",
            "CDAN above DANN",
            LONG,
            "CDAN",
        ),
        above_dann(
            "MCC alone, without a domain head, beats DANN",
            "MCC above DANN",
            JIN,
            "MCC",
        ),
    ]


YOU = "you2021logme, §5"


def logme_glyphs_claims(result: dict[str, Any]) -> list[Claim]:
    """LogME ranks glyph backbones as their fine-tuned accuracy does."""
    s = result["settings"]
    c = result["correlation"]
    lo, hi = c["bootstrap_ci95"]
    v = HOLDS if lo > 0 else FAILS if hi < 0 else INCONCLUSIVE
    return [
        Claim(
            "ch-transfer",
            "LogME, computed before fine-tuning, correlates with the fine-tuned "
            "accuracy of the candidate models",
            "a strong positive correlation",
            YOU,
            f"Spearman ρ = {c['spearman']:.3f} over {len(s['models'])} backbones "
            f"(95 % bootstrap interval {lo:.3f} to {hi:.3f}); per target task "
            + ", ".join(f"{r:.3f}" for r in c["spearman_per_task"]),
            v,
            f"glyphs, {len(s['models'])} MLP backbones (pretraining length and "
            f"source scripts varied), {s['fine_tuning']['steps']} fine-tuning "
            f"steps, {_seeds(result)} target tasks; bootstrap over the models",
            ""
            if v == HOLDS
            else "the interval reaches 0: too few or too similar models"
            if v == INCONCLUSIVE
            else "LogME ranks the models against their fine-tuned accuracy",
        )
    ]


# The seed article (book/seed_faq.md) is not a publication with a bib entry:
# its claims carry no published value ("—") and name the seed in the claim.
SEED_A = ""


def transfer_speed_glyphs_claims(result: dict[str, Any]) -> list[Claim]:
    """The seed article: transfer raises learning speed and performance."""
    s = result["settings"]
    rows = sorted(result["rows"], key=lambda r: r["seed"])
    level = f"{s['share_of_scratch_final']:g} x scratch final"
    censored = s["training"]["steps"] + s["record_every"]  # never reached

    def steps(name: str) -> list[float]:
        return [
            censored
            if r["steps_to"][name][level] is None
            else r["steps_to"][name][level]
            for r in rows
        ]

    fast, slow = steps("transfer"), steps("scratch")
    final = {n: [r["curves"][n][-1] for r in rows] for n in ("transfer", "scratch")}
    regime = (
        f"glyphs, MLP 784-256-256 pretrained {s['pretrain_steps']} steps, "
        f"50 new classes with 10 images each, SGD lr {s['training']['lr']}, "
        f"{s['training']['steps']} steps, {_seeds(result)}, paired by seed"
    )
    v_speed = difference(slow, fast)
    v_final = difference(final["transfer"], final["scratch"])
    return [
        Claim(
            "ch-transfer",
            "Seed article: transfer learning speeds up learning (学习速度), "
            "fewer steps to a given accuracy",
            "—",
            SEED_A,
            f"steps to {s['share_of_scratch_final']:g} × scratch's final accuracy: "
            f"transfer {_ci(fast, 0)}, scratch {_ci(slow, 0)}",
            v_speed,
            regime + f"; a run that never reaches the level counts {censored} steps",
            ""
            if v_speed == HOLDS
            else "the seeds do not separate the two"
            if v_speed == INCONCLUSIVE
            else "training from scratch gets there sooner",
        ),
        Claim(
            "ch-transfer",
            "Seed article: transfer learning raises performance (性能), higher "
            "final accuracy",
            "—",
            SEED_A,
            f"final test accuracy: transfer {_ci(final['transfer'])}, scratch "
            f"{_ci(final['scratch'])}",
            v_final,
            regime,
            ""
            if v_final == HOLDS
            else "the seeds do not separate the two"
            if v_final == INCONCLUSIVE
            else "training from scratch ends higher",
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "peft_glyphs": peft_glyphs_claims,
    "cdan_moons": cdan_moons_claims,
    "logme_glyphs": logme_glyphs_claims,
    "transfer_speed_glyphs": transfer_speed_glyphs_claims,
}
SOURCE_OF = dict.fromkeys(BENCHMARKS, "ch-transfer")
__all__ = [
    "BENCHMARKS",
    "SOURCE_OF",
    "cdan_moons_claims",
    "logme_glyphs_claims",
    "peft_glyphs_claims",
    "transfer_speed_glyphs_claims",
]
