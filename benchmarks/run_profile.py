"""Where a Dagster run's time went, from the event log of the instance it ran in.

Example::

    profile = RunProfile.latest(Path("data/bench/compare/lakehouse_cold/one_day_empty/dagster_home"), wall=41.2)
    print(profile.render())     # each step's seconds, asset checks' total and share, process overhead
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg


@dataclass(frozen=True)
class StepTime:
    """One step of a run: its key, seconds from STEP_START to STEP_SUCCESS/FAILURE, and whether it only runs checks."""

    key: str
    seconds: float
    is_check: bool


@dataclass(frozen=True)
class RunProfile:
    """The steps of one run, its check evaluations and the process's wall time around it."""

    run_id: str
    status: str
    wall: float
    steps: tuple[StepTime, ...]
    checks_passed: int
    checks_failed: tuple[str, ...]  # names of the checks that did not pass (WARN or ERROR)

    @classmethod
    def latest(cls, dagster_home: Path, wall: float) -> RunProfile:
        """The profile of the newest run of the instance in ``dagster_home``; ``wall`` is the process's own wall time."""
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            runs = instance.get_runs(limit=1)
            if not runs:
                raise ValueError(f"no run in the Dagster instance at {dagster_home}")
            return cls.of(instance, runs[0], wall)

    @classmethod
    def of(cls, instance: dg.DagsterInstance, run: dg.DagsterRun, wall: float) -> RunProfile:
        """The profile of ``run`` from the event log of ``instance`` (e.g. an in-process run's)."""
        events = [e for e in instance.all_logs(run.run_id) if e.dagster_event is not None]
        started: dict[str, float] = {}
        ended: dict[str, float] = {}
        materializes: set[str] = set()
        evaluations: dict[str, list[tuple[str, bool]]] = {}
        for entry in events:
            event, step = entry.dagster_event, entry.step_key
            if event is None or step is None:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                started[step] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                ended[step] = entry.timestamp
            elif kind == "ASSET_MATERIALIZATION":
                materializes.add(step)
            elif kind == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                assert isinstance(evaluation, dg.AssetCheckEvaluation)
                evaluations.setdefault(step, []).append((evaluation.check_name, evaluation.passed))
        steps = tuple(
            StepTime(step, ended[step] - started[step], is_check=step in evaluations and step not in materializes)
            for step in sorted(started, key=started.__getitem__) if step in ended
        )
        results = [result for step in evaluations.values() for result in step]
        return cls(run.run_id, run.status.value, wall, steps, checks_passed=sum(passed for _, passed in results),
                   checks_failed=tuple(sorted({name for name, passed in results if not passed})))

    @property
    def in_steps(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def in_checks(self) -> float:
        return sum(s.seconds for s in self.steps if s.is_check)

    def render(self, title: str) -> str:
        """A few lines: each step's seconds (checks marked), the checks' total and share, the overhead outside steps."""
        lines = [f"{title}: run {self.run_id[:8]} {self.status}, wall {self.wall:.1f} s, "
                 f"{self.checks_passed} check evaluations passed, not passed: {', '.join(self.checks_failed) or 'none'}"]
        for number, step in enumerate(self.steps):
            note = "  (asset checks)" if step.is_check else "  (includes the Spark session start)" if number == 0 else ""
            lines.append(f"  {step.key:<34} {step.seconds:>7.2f} s{note}")
        checks = self.in_checks
        lines.append(f"  {'sum of steps':<34} {self.in_steps:>7.2f} s")
        lines.append(f"  {'in asset-check steps':<34} {checks:>7.2f} s = {checks / self.wall:.0%} of the run's wall time "
                     f"({checks / self.in_steps:.0%} of the steps)" if self.in_steps else "")
        lines.append(f"  {'outside steps (process start, load)':<34} {self.wall - self.in_steps:>7.2f} s = "
                     f"{(self.wall - self.in_steps) / self.wall:.0%}: Python and Dagster start, definitions, instance, run setup")
        return "\n".join(lines)
