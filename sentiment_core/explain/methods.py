"""The attribution methods, one registry entry each: its Captum class, the one option a user sets
(`steps`: IG steps, samples, or an occlusion window) with its default, and how it is called.

Every method attributes the same thing: one weight per token scaling its input (1 = as typed, 0 =
removed), so each `attribute` takes `forward(token_weights) -> log-odds`, the weights, the baseline
weights and a feature mask grouping the tokens of a word (-1 for special tokens).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sentiment_core.core.errors import InputError
from sentiment_core.data import LABELS

MAX_STEPS = 500  # most steps, samples or window a request may ask for (every surface)
BASELINES = ("empty", "undecided")
DEFAULT_METHOD = "integrated_gradients"
# bow's output is linear in its token weights: Gradient x Input gives occlusion's exact scores in one pass.
FAMILY_DEFAULT_METHODS = {"bow": "gradient_x_input"}
PERTURBATIONS_PER_PASS = 32  # occlusion and LIME: perturbed copies per forward pass


@dataclass(frozen=True)
class Method:
    """One attribution method: how it is named and shown, what `steps` sets, and how Captum runs it."""

    name: str
    title: str  # one line for menus, pages and reports
    captum_class: str  # the class in captum.attr
    option: str | None  # the Captum argument `steps` sets (None: the method takes no steps)
    default: int | None  # that argument's default
    option_help: str | None
    per_word: bool  # perturbs whole words: every token of a word carries the word's score
    run: Callable  # (captum instance, weights, baseline, feature_mask, steps, path_batch) -> (scores, delta | None)

    def captum_options(self) -> dict:
        """Arguments of the Captum class beyond the forward function."""
        return {"interpretable_model": _scaled_lasso()} if self.captum_class == "Lime" else {}

    def attribute(self, forward: Callable, weights: torch.Tensor, baseline: torch.Tensor, feature_mask: torch.Tensor,
                  steps: int | None = None, path_batch: int | None = None) -> tuple[torch.Tensor, float | None]:
        """Token attributions (1, seq_len) toward what `forward` returns, and the completeness gap when the
        method has one. steps: this method's option (default `self.default`)."""
        from captum import attr  # here: captum takes a second to import and predictions never need it

        method = getattr(attr, self.captum_class)(forward, **self.captum_options())
        with warnings.catch_warnings():  # Captum's notes on its own internals ("... required_grads has been set")
            warnings.filterwarnings("ignore", category=UserWarning, module="captum")
            return self.run(method, weights, baseline, feature_mask, steps or self.default, path_batch)


def _integrated_gradients(method, weights, baseline, mask, steps, path_batch):
    attributions, delta = method.attribute(weights, baselines=baseline, n_steps=steps,
                                           internal_batch_size=path_batch or steps, return_convergence_delta=True)
    return attributions, float(delta.sum())


def _gradient_shap(method, weights, baseline, mask, steps, path_batch):
    attributions, delta = method.attribute(weights, baselines=baseline, n_samples=steps, stdevs=0.0,
                                           return_convergence_delta=True)
    return attributions, float(delta.mean())


def _gradient_x_input(method, weights, baseline, mask, steps, path_batch):
    # gradient x (input - baseline): the baseline's words scaled, special tokens 0
    return method.attribute(weights) * (weights - baseline), None


def _specials_apart(mask: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """The feature groups with the special tokens (-1 in `mask`) in one group of their own, never perturbed."""
    return torch.where(mask < 0, groups.max() + 1, groups)


def _occlusion(method, weights, baseline, mask, window, path_batch):
    groups = mask if window == 1 else torch.div(mask.clamp(min=0), window, rounding_mode="floor")
    attributions = method.attribute(weights, baselines=baseline, feature_mask=_specials_apart(mask, groups),
                                    perturbations_per_eval=PERTURBATIONS_PER_PASS)
    return attributions, None


def _lime(method, weights, baseline, mask, samples, path_batch):
    attributions = method.attribute(weights, baselines=baseline, feature_mask=_specials_apart(mask, mask),
                                    n_samples=samples, perturbations_per_eval=PERTURBATIONS_PER_PASS)
    return attributions, None


def _scaled_lasso():
    """LIME's sparse linear model with its L1 penalty in units of the outputs' spread: Captum's default Lasso
    (alpha 0.01 in log-odds) zeroes every word of a model whose outputs move less than that, as a weakly trained
    one's do, while a strongly trained one's were hardly shrunk."""
    from captum._utils.models.linear_model import SkLearnLasso

    class ScaledLasso(SkLearnLasso):
        def __init__(self, alpha: float = 0.01):
            super().__init__(alpha=alpha)
            self.relative_alpha = alpha

        def fit(self, train_data, **kwargs):
            outputs, weights = [], []
            for batch in train_data:  # (interpretable inputs, outputs, sample weights)
                outputs.append(batch[1].reshape(-1).double())
                weights.append(batch[2].reshape(-1).double() if len(batch) > 2 else torch.ones_like(outputs[-1]))
            y, w = torch.cat(outputs), torch.cat(weights)
            spread = float(((w * (y - (w * y).sum() / w.sum()) ** 2).sum() / w.sum()).sqrt())
            self.construct_kwargs["alpha"] = self.relative_alpha * max(spread, 1e-12)
            return super().fit(train_data, **kwargs)

    return ScaledLasso()


METHODS: dict[str, Method] = {method.name: method for method in (
    Method("integrated_gradients", "Integrated Gradients (path from the empty review to the review)",
           "IntegratedGradients", "n_steps", 50, "steps on the path from baseline to review", False,
           _integrated_gradients),
    Method("occlusion", "Occlusion: remove each word and see how the output moves", "FeatureAblation",
           "window", 1, "words removed at a time", True, _occlusion),
    Method("gradient_x_input", "Gradient x Input (one backward pass)", "InputXGradient", None, None, None, False,
           _gradient_x_input),
    Method("gradient_shap", "GradientSHAP (expected gradients from random path points)", "GradientShap",
           "n_samples", 20, "random samples", False, _gradient_shap),
    Method("lime", "LIME (a sparse linear model fitted on random word removals)", "Lime", "n_samples", 300,
           "perturbed reviews to fit on", True, _lime),
)}


def get_method(name: str) -> Method:
    """The registry entry of `name`, or an InputError listing the methods."""
    if name not in METHODS:
        raise InputError(f"Unknown explanation method {name!r}: choose one of {', '.join(METHODS)}.")
    return METHODS[name]


def default_method(family: str) -> str:
    """The explanation method a model of `family` gets when none is asked for."""
    return FAMILY_DEFAULT_METHODS.get(family, DEFAULT_METHOD)


def check_steps(steps, method: str) -> int | None:
    """`steps` for `method` (None: its default), refused unless a whole number 1..MAX_STEPS for a method that
    takes steps."""
    option = get_method(method).option
    if steps is None:
        return None
    if option is None:
        raise InputError(f"{method} takes no steps option: leave steps out, or choose a method that takes them "
                         f"({', '.join(m.name for m in METHODS.values() if m.option)}).")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps ({option} of {method}) must be a whole number from 1 to {MAX_STEPS}, got {steps!r}.")
    return steps


def check_baseline(baseline: str) -> str:
    if baseline not in BASELINES:
        raise InputError(f"Unknown baseline {baseline!r}: choose one of {', '.join(BASELINES)}.")
    return baseline


def check_target(target) -> int | None:
    """The class to explain as 0 or 1 (None: the predicted one), from a label name or an index."""
    if target is None:
        return None
    if isinstance(target, str) and target.lower() in LABELS:
        return LABELS.index(target.lower())
    if target in (0, 1) and not isinstance(target, bool):
        return int(target)
    raise InputError(f"Unknown target {target!r}: use 'positive', 'negative' (or 1, 0), or leave it out for the "
                     "predicted class.")
