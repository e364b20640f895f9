"""The generic training loop on a tiny regression model: exact resume, refusals, schedule, eval cadence, clipping."""

from __future__ import annotations

import pytest
import torch

from retok import RetokError
from retok.training.trainer import TrainerConfig, indexed_batches, lr_factor, shard, train

X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    # dropout draws from the global RNG during training, so exact resume needs the RNG in the checkpoint
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))


def mse(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])


def batch_at(step: int) -> dict[str, torch.Tensor]:
    rows = torch.randperm(64, generator=torch.Generator().manual_seed(step))[:8]
    return {"x": X[rows], "y": Y[rows]}


CONFIG = TrainerConfig(steps=12, warmup_steps=3, max_grad_norm=1.0, eval_every=4, checkpoint_every=5)
QUIET = {"progress": False, "log": lambda _: None}


def run(model, work, *, batches=batch_at, config=CONFIG, **options):
    return train(model, mse, batches, config=config, work=work, settings={"data": "X"}, **{**QUIET, **options})


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


@pytest.mark.parametrize("source", ["indexed", "iterator"])
def test_interrupted_then_resumed_run_equals_the_uninterrupted_one(tmp_path, source):
    batches = batch_at if source == "indexed" else indexed_batches(lambda: (batch_at(s) for s in range(CONFIG.steps)))
    straight_model = tiny_model()
    straight = run(straight_model, tmp_path / "a", batches=batches)
    stopped = run(tiny_model(), tmp_path / "b", batches=batches, stop_after=7)
    assert stopped.steps == 7 and not stopped.finished
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["settings.json", "state.pt"]  # no temporary file left
    torch.manual_seed(123)  # whatever the RNG did meanwhile, the checkpoint's RNG state wins
    resumed_model = tiny_model(seed=1)  # other initial weights: the checkpoint's weights win too
    resumed = run(resumed_model, tmp_path / "b", batches=batches)
    assert resumed.finished and resumed.steps == CONFIG.steps
    a, b = params(straight_model), params(resumed_model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]


def test_resume_with_other_settings_is_refused_and_says_what_changed(tmp_path):
    run(tiny_model(), tmp_path / "w", stop_after=3)
    with pytest.raises(RetokError, match=r"made with other settings \(run.data: 'X' -> 'Z'\).*add --fresh to discard it"):
        train(tiny_model(), mse, batch_at, config=CONFIG, work=tmp_path / "w", settings={"data": "Z"}, **QUIET)
    longer = TrainerConfig(**{**CONFIG.__dict__, "steps": 20})
    with pytest.raises(RetokError, match=r"loop.steps: 12 -> 20"):
        run(tiny_model(), tmp_path / "w", config=longer)
    # the cadences do not change the weights, so they may change between runs
    assert run(tiny_model(), tmp_path / "w", config=TrainerConfig(**{**CONFIG.__dict__, "eval_every": 3})).finished


def test_learning_rate_warms_up_then_decays_linearly_to_zero_in_every_group():
    seen = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            seen.append([g["lr"] for g in self.param_groups])
            return super().step(closure)

    model = tiny_model()
    groups = [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[3].parameters(), "lr": 1.0}]
    train(model, mse, batch_at, config=TrainerConfig(steps=6, warmup_steps=2), param_groups=groups, make_optimizer=Recording, **QUIET)
    factors = [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert seen == [pytest.approx([0.1 * f, 1.0 * f]) for f in factors]
    assert [lr_factor(s, 6, 2) for s in range(6)] == factors


def test_evaluate_runs_in_eval_mode_at_start_every_n_steps_and_at_end(tmp_path):
    calls = []

    def evaluate(step: int) -> dict:
        calls.append((step, model.training))
        return {"score": float(step)}

    model = tiny_model()
    result = run(model, None, evaluate=evaluate)
    assert calls == [(0, False), (4, False), (8, False), (12, False)]
    assert model.training  # back in training mode afterwards
    assert [h for h in result.history if "score" in h] == [{"step": s, "score": float(s)} for s in (0, 4, 8, 12)]
    calls.clear()
    run(model, tmp_path / "w", evaluate=evaluate, stop_after=5)
    run(model, tmp_path / "w", evaluate=evaluate)
    assert [s for s, _ in calls] == [0, 4, 8, 12]  # the resumed run does not evaluate step 0 again


def test_gradients_are_clipped_to_max_grad_norm():
    def huge(model, batch):
        return 1000 * mse(model, batch)

    moved = {}
    for clip in (0.0, 0.5):
        model = tiny_model()  # same seed: both runs draw the same dropout mask, so the same gradient direction
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        train(model, huge, batch_at, config=TrainerConfig(steps=1, max_grad_norm=clip),
              make_optimizer=lambda g: torch.optim.SGD(g, lr=1.0), **QUIET)
        moved[clip] = (torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm().item()
    assert moved[0.5] == pytest.approx(0.5, rel=1e-4)
    assert moved[0.0] > 10 * moved[0.5]


def test_each_process_gets_an_equal_slice_of_the_global_batch():
    batch = {"x": torch.arange(8), "pair": (torch.arange(8) * 10, torch.arange(8) * 100)}
    halves = [shard(batch, rank, 2) for rank in range(2)]
    assert torch.equal(halves[1]["x"], torch.arange(4, 8))
    assert torch.equal(torch.cat([h["pair"][0] for h in halves]), batch["pair"][0])
    assert shard(batch, 0, 1) is batch
    with pytest.raises(RetokError, match="8 rows cannot be split evenly over 3 processes"):
        shard(batch, 0, 3)


def test_an_iterator_that_runs_out_is_refused():
    batches = indexed_batches(lambda: iter([batch_at(0), batch_at(1)]))
    with pytest.raises(RetokError, match="ran out before step 2"):
        train(tiny_model(), mse, batches, config=TrainerConfig(steps=3), **QUIET)


def test_a_run_needs_at_least_one_step():
    with pytest.raises(RetokError, match="at least one step"):
        TrainerConfig(steps=0)


def test_a_checkpoint_without_its_settings_is_refused(tmp_path):
    run(tiny_model(), tmp_path / "w", stop_after=3)
    (tmp_path / "w" / "settings.json").unlink()  # as left by a retok that kept the settings elsewhere
    with pytest.raises(RetokError, match="has no settings.json beside it.*add --fresh to discard"):
        run(tiny_model(), tmp_path / "w")


def test_global_mean_averaged_over_processes_is_the_mean_of_the_whole_batch():
    from retok.training.trainer import Replicated, global_mean

    terms = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0])
    slices = (terms[:1], terms[1:])  # two processes holding unequal shares of the terms
    count = Replicated(torch.tensor(len(terms)))
    per_process = [global_mean(s.sum(), count, world=2) for s in slices]
    assert float(sum(per_process) / 2) == pytest.approx(float(terms.mean()))
    assert float(sum(s.mean() for s in slices) / 2) != pytest.approx(float(terms.mean()))  # what a per-process mean would give
